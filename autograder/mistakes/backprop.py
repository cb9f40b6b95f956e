"""Chapter 3 (03-backprop): wrong answers students really write."""
from autograder.mistakes import Mistake

# A complete, correct Value class; each Value mistake below changes one piece of it.
_VALUE = '''
class Value:
    def __init__(self, data, _prev=()):
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(_prev)
        self._backward = lambda: None

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other))
        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other))
        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, n):
        out = Value(self.data ** n, (self,))
        def _backward():
            self.grad += n * self.data ** (n - 1) * out.grad
        out._backward = _backward
        return out

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __truediv__(self, other):
        return self * (other if isinstance(other, Value) else Value(other)) ** -1

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        return Value(other) - self

    def __rtruediv__(self, other):
        return Value(other) / self

    def tanh(self):
        t = np.tanh(self.data)
        out = Value(t, (self,))
        def _backward():
            self.grad += (1 - t ** 2) * out.grad
        out._backward = _backward
        return out

    def relu(self):
        out = Value(max(self.data, 0.0), (self,))
        def _backward():
            self.grad += (self.data > 0) * out.grad
        out._backward = _backward
        return out

    def exp(self):
        out = Value(np.exp(self.data), (self,))
        def _backward():
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    def backward(self):
        order, seen = [], set()
        def visit(node):
            if node not in seen:
                seen.add(node)
                for parent in node._prev:
                    visit(parent)
                order.append(node)
        visit(self)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()
'''

_NAIVE_BACKWARD = '''
    def backward(self):
        self.grad = 1.0
        def visit(node):
            node._backward()
            for parent in node._prev:
                visit(parent)
        visit(self)
'''


def _value_with(old, new):
    assert old in _VALUE, old
    return _VALUE.replace(old, new)


_ADAM = '''
def adam_init(params):
    return {"t": 0, "m": [np.zeros_like(p) for p in params], "v": [np.zeros_like(p) for p in params]}


def adam_step(params, grads, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    b1, b2 = betas
    t = state["t"]INCREMENT
    m = [b1 * m + (1 - b1) * g for m, g in zip(state["m"], grads)]
    v = [b2 * v + (1 - b2) * g * g for v, g in zip(state["v"], grads)]
    new = [p - lr * M_HAT / (np.sqrt(V_HAT) + eps) for p, m, v in zip(params, m, v)]
    return new, {"t": t, "m": m, "v": v}
'''


def _adam(increment, m_hat, v_hat):
    return _ADAM.replace("INCREMENT", increment).replace("M_HAT", m_hat).replace("V_HAT", v_hat)


_TRAIN = '''
def train_mlp_numpy(X_train, y_train):
    rng = np.random.default_rng(0)
    W1, b1 = rng.normal(0, np.sqrt(2 / 64), size=(64, 64)), np.zeros(64)
    W2, b2 = rng.normal(0, np.sqrt(2 / 64), size=(64, 10)), np.zeros(10)
    n = len(X_train)
    for epoch in range({epochs}):
        for start in range(0, n, 32):
            xb, yb = X_train[start:start + 32], y_train[start:start + 32]
            z1 = xb @ W1 + b1
            h = np.maximum(z1, 0)
            loss, dz2 = softmax_cross_entropy_and_grad(h @ W2 + b2, yb)
            dh, dW2, db2 = linear_backward(dz2, h, W2)
            dx, dW1, db1 = linear_backward(relu_backward(dh, z1), xb, W1)
            W1, b1, W2, b2 = W1 - {lr} * dW1, b1 - {lr} * db1, W2 - {lr} * dW2, b2 - {lr} * db2
    return [(W1, b1), (W2, b2)]
'''

MISTAKES = [
    Mistake("mse_loss_and_grad", "test_mse_loss_and_grad", "sums instead of averaging (a missing 1/N)", '''
def mse_loss_and_grad(pred, target):
    diff = pred - target
    return np.sum(diff ** 2), 2 * diff
''', "divide by pred.size"),
    Mistake("mse_loss_and_grad", "test_mse_loss_and_grad", "forgets the 2 of the derivative", '''
def mse_loss_and_grad(pred, target):
    diff = pred - target
    return np.mean(diff ** 2), diff / diff.size
''', "the gradient: 2 of 4 values differ"),
    Mistake("mse_loss_and_grad", "test_mse_loss_and_grad", "averages over the rows only", '''
def mse_loss_and_grad(pred, target):
    diff = pred - target
    return np.sum(diff ** 2) / len(diff), 2 * diff / len(diff)
''', "(not the number of rows)"),
    Mistake("softmax_cross_entropy_and_grad", "test_softmax_cross_entropy_and_grad",
            "no max subtraction: overflows for large logits", '''
def softmax_cross_entropy_and_grad(logits, labels):
    n = len(logits)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(probs[np.arange(n), labels]))
    grad = probs.copy()
    grad[np.arange(n), labels] -= 1
    return loss, grad / n
''', "subtract each row's maximum logit"),
    Mistake("softmax_cross_entropy_and_grad", "test_softmax_cross_entropy_and_grad",
            "forgets to divide the gradient by the batch size", '''
def softmax_cross_entropy_and_grad(logits, labels):
    n = len(logits)
    z = logits - logits.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    grad = np.exp(log_probs)
    grad[np.arange(n), labels] -= 1
    return -np.mean(log_probs[np.arange(n), labels]), grad
''', "and divide by n"),
    Mistake("softmax_cross_entropy_and_grad", "test_softmax_cross_entropy_and_grad",
            "returns softmax / n as the gradient (forgets the one-hot)", '''
def softmax_cross_entropy_and_grad(logits, labels):
    n = len(logits)
    z = logits - logits.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -np.mean(log_probs[np.arange(n), labels]), np.exp(log_probs) / n
''', "subtract 1 at each row's true class"),
    Mistake("numerical_gradient", "test_numerical_gradient", "one-sided difference", '''
def numerical_gradient(f, x, eps=1e-5):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        x_plus = x.copy()
        x_plus[index] += eps
        grad[index] = (f(x_plus) - f(x)) / eps
    return grad
''', "use the central difference"),
    Mistake("numerical_gradient", "test_numerical_gradient", "loops over range(len(x)): right for 1-D arrays only", '''
def numerical_gradient(f, x, eps=1e-5):
    grad = np.zeros_like(x)
    for i in range(len(x)):
        x_plus, x_minus = x.copy(), x.copy()
        x_plus[i] += eps
        x_minus[i] -= eps
        grad[i] = (f(x_plus) - f(x_minus)) / (2 * eps)
    return grad
''', "for every index k of x"),
    Mistake("numerical_gradient", "test_numerical_gradient", "moves x in place and never moves it back", '''
def numerical_gradient(f, x, eps=1e-5):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        x[index] += eps
        f_plus = f(x)
        x[index] -= 2 * eps
        grad[index] = (f_plus - f(x)) / (2 * eps)
    return grad
''', "changed its input array in place"),
    Mistake("linear_backward", "test_layer_backward", "transposed dW (dout.T @ X)", '''
def linear_backward(dout, X, W):
    return dout @ W.T, dout.T @ X, dout.sum(axis=0)
''', "dW: expected shape (2, 3), got shape (3, 2)"),
    Mistake("linear_backward", "test_layer_backward", "averages db over the batch instead of summing", '''
def linear_backward(dout, X, W):
    return dout @ W.T, X.T @ dout, dout.mean(axis=0)
''', "db: 3 of 3 values differ"),
    Mistake("relu_backward", "test_layer_backward", "passes the gradient where X == 0 too", '''
def relu_backward(dout, X):
    return dout * (X >= 0)
''', "the gradient is 0 where X == 0"),
    Mistake("relu_backward", "test_layer_backward", "returns the mask without multiplying by dout", '''
def relu_backward(dout, X):
    return (X > 0).astype(float)
''', "multiply dout by the mask"),
    Mistake("Value", "test_value_arithmetic", "power rule with n * a**n", _value_with(
        "n * self.data ** (n - 1)", "n * self.data ** n"), "Value: a / b: the gradients"),
    Mistake("Value", "test_value_backward", "overwrites gradients (=) instead of accumulating (+=)", _value_with(
        '''            self.grad += out.grad
            other.grad += out.grad''', '''            self.grad = out.grad
            other.grad = out.grad'''), "Value: a + a + a: the gradients"),
    Mistake("Value", "test_value_backward", "backward without a topological order (visits shared nodes twice)",
            _VALUE[: _VALUE.index("    def backward(self):")] + _NAIVE_BACKWARD.lstrip("\n"),
            "Value: b = 2 * a; b * b.tanh(): the gradients"),
    Mistake("Value", "test_value_backward", "tanh derivative written as 1 - tanh(a)", _value_with(
        "(1 - t ** 2) * out.grad", "(1 - t) * out.grad"), "Value: a.tanh(): the gradients"),
    Mistake("sgd_momentum_step", "test_optimizers", "ignores the velocity (plain SGD)", '''
def sgd_momentum_step(params, grads, velocity, lr, momentum):
    return [p - lr * g for p, g in zip(params, grads)], velocity
''', "parameter 0 after step 2"),
    Mistake("adam_step", "test_optimizers", "Adam without bias correction",
            _adam(increment=" + 1", m_hat="m", v_hat="v"), "adam_step(lr=0.1): parameter 0 after step 1"),
    Mistake("adam_step", "test_optimizers", "never increments the step count t",
            _adam(increment=" + 1 if state['t'] == 0 else state['t']",
                  m_hat="m / (1 - b1 ** t)", v_hat="v / (1 - b2 ** t)"), "after step 2"),
    Mistake("train_mlp_numpy", "test_train_mlp_numpy", "scikit-learn's MLP, its weights returned", '''
def train_mlp_numpy(X_train, y_train):
    from sklearn.neural_network import MLPClassifier

    mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=200, random_state=0).fit(X_train, y_train)
    return [(W, b) for W, b in zip(mlp.coefs_, mlp.intercepts_)]
''', "scikit-learn's MLP is switched off here"),
    Mistake("mse_loss_and_grad", "test_mse_loss_and_grad", "returns the gradient as a Python list", '''
def mse_loss_and_grad(pred, target):
    diff = pred - target
    return float(np.mean(diff ** 2)), (2 * diff / diff.size).tolist()
''', "returned a list: return a numpy array"),
    Mistake("numerical_gradient", "test_numerical_gradient", "moves x in place and restores it with += eps / -= eps", '''
def numerical_gradient(f, x, eps=1e-5):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        x[index] += eps
        fp = f(x)
        x[index] -= 2 * eps
        fm = f(x)
        x[index] += eps
        grad[index] = (fp - fm) / (2 * eps)
    return grad
''', "old = x[k]"),
    Mistake("Value", "test_value_backward", "relu passes the gradient at a == 0 (>= 0)", _value_with(
        "(self.data > 0) * out.grad", "(self.data >= 0) * out.grad"), "relu'(0) is 0"),
    Mistake("Value", "test_value_arithmetic", "power rule as n * out / a: 0 / 0 at a == 0", _value_with(
        "n * self.data ** (n - 1) * out.grad", "n * out.data / self.data * out.grad"), "a ** 2 at a = 0"),
    Mistake("Value", "test_value_backward", "tanh from math.exp: overflows for |a| > 355", _value_with(
        "t = np.tanh(self.data)", "import math; t = (math.exp(2 * self.data) - 1) / (math.exp(2 * self.data) + 1)"),
        "a.tanh() at a = 800"),
    Mistake("sgd_momentum_step", "test_optimizers", "the CS231n velocity v = mu * v - lr * g", '''
def sgd_momentum_step(params, grads, velocity, lr, momentum):
    new_v = [momentum * v - lr * g for v, g in zip(velocity, grads)]
    return [p + v for p, v in zip(params, new_v)], new_v
''', "the velocity is v = momentum * v + g"),
    Mistake("train_mlp_numpy", "test_train_mlp_numpy", "a learning rate far too small for its few epochs",
            _TRAIN.format(epochs=2, lr=0.001), "your network classifies"),
    # The dict is the caller's: replacing its entries changes the caller's state. Inside the grader's
    # sandbox the replaced arrays come back as changed inputs, so the student's own run and the
    # graded run fail alike.
    Mistake("adam_step", "test_optimizers", "the state dict's entries replaced in place", '''
def adam_init(params):
    """Adam's state before the first step: no steps taken, zero moments."""
    return {"t": 0, "m": [np.zeros_like(p) for p in params], "v": [np.zeros_like(p) for p in params]}


def adam_step(params, grads, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    b1, b2 = betas
    state["t"] += 1
    state["m"] = [b1 * m + (1 - b1) * g for m, g in zip(state["m"], grads)]
    state["v"] = [b2 * v + (1 - b2) * g * g for v, g in zip(state["v"], grads)]
    c1, c2 = 1 - b1 ** state["t"], 1 - b2 ** state["t"]
    return [p - lr * (m / c1) / (np.sqrt(v / c2) + eps) for p, m, v in zip(params, state["m"], state["v"])], state
''',
            "changed its input array in place"),
]
