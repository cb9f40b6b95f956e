"""Chapter 2 (02-layers): wrong answers students really write."""
from autograder.mistakes import Mistake

_SPIRAL_TRAINING = '''
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    for step in range({steps}):
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
    return model
'''

MISTAKES = [
    Mistake("dense_forward", "test_dense_forward", "transposes W", '''
def dense_forward(X, W, b):
    return X @ W.T + b
''', "no transpose"),
    Mistake("dense_forward", "test_dense_forward", "adds the bias to the weights instead of the output", '''
def dense_forward(X, W, b):
    return X @ (W + b)
''', "values differ"),
    Mistake("mlp_forward", "test_mlp_forward", "applies the activation after the last layer too", '''
def mlp_forward(X, params, activation):
    h = X
    for W, b in params:
        h = activation(h @ W + b)
    return h
''', "after every layer but the last"),
    Mistake("mlp_forward", "test_mlp_forward", "applies the activation to the input before each layer", '''
def mlp_forward(X, params, activation):
    h = X
    for W, b in params:
        h = activation(h) @ W + b
    return h
''', "never to the input"),
    Mistake("mlp_forward", "test_mlp_forward", "hard-codes ReLU instead of using the activation argument", '''
def mlp_forward(X, params, activation):
    h = X
    for i, (W, b) in enumerate(params):
        h = h @ W + b
        if i < len(params) - 1:
            h = np.maximum(h, 0)
    return h
''', "2-2-2-1 tanh network"),
    Mistake("count_parameters", "test_count_parameters", "counts the weights but not the biases", '''
def count_parameters(layer_sizes):
    return sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
''', "expected 26, got 20"),
    Mistake("count_parameters", "test_count_parameters", "gives the input layer biases too", '''
def count_parameters(layer_sizes):
    return sum(layer_sizes) + sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
''', "expected 26, got 29"),
    Mistake("he_init", "test_he_init", "He scaling with fan_out instead of fan_in", '''
def he_init(fan_in, fan_out, rng):
    return rng.normal(0.0, np.sqrt(2.0 / fan_out), size=(fan_in, fan_out))
''', "he_init(300, 200, rng): the weights' standard deviation"),
    Mistake("xavier_init", "test_xavier_init", "passes the variance where the standard deviation goes", '''
def xavier_init(fan_in, fan_out, rng):
    return rng.normal(0.0, 2.0 / (fan_in + fan_out), size=(fan_in, fan_out))
''', "square root of the variance"),
    Mistake("xavier_init", "test_xavier_init", "draws with np.random instead of the given rng", '''
def xavier_init(fan_in, fan_out, rng):
    return np.random.randn(fan_in, fan_out) * np.sqrt(2.0 / (fan_in + fan_out))
''', "with the `rng` argument"),
    Mistake("xavier_init", "test_xavier_init", "makes a generator of its own with a fixed seed", '''
def xavier_init(fan_in, fan_out, rng):
    rng = np.random.default_rng(0)
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))
''', "another seed other weights"),
    Mistake("collapse_linear", "test_collapse_linear", "multiplies the weights in the wrong order", '''
def collapse_linear(W1, b1, W2, b2):
    return W2 @ W1, b1 @ W2 + b2
''', "the order of the product matters"),
    Mistake("collapse_linear", "test_collapse_linear", "adds the biases without passing b1 through W2", '''
def collapse_linear(W1, b1, W2, b2):
    return W1 @ W2, b1[:len(b2)] + b2
''', "b1 passes through W2"),
    Mistake("xor_network", "test_xor_network", "subtracts the second hidden unit once instead of twice", '''
def xor_network():
    return [(np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([0.0, -1.0])),
            (np.array([[1.0], [-1.0]]), np.array([0.0]))]
''', "gives 1 at (1.0, 1.0)"),
    Mistake("xor_network", "test_xor_network", "right at the corners but with outputs hugging 0.5", '''
def xor_network():
    return [(np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([0.0, -1.0])),
            (np.array([[0.52], [-1.04]]), np.array([0.0]))]
''', "50 points near it"),
    Mistake("train_spiral_classifier", "test_train_spiral_classifier", "stacks linear layers with no activation", '''
def train_spiral_classifier(X, y, device):
    model = nn.Sequential(nn.Linear(2, 64), nn.Linear(64, 64), nn.Linear(64, 2)).to(device)
''' + _SPIRAL_TRAINING.format(steps=1000), "target: 97%"),
    Mistake("train_spiral_classifier", "test_train_spiral_classifier", "a good network trained for only 30 steps", '''
def train_spiral_classifier(X, y, device):
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2)).to(device)
''' + _SPIRAL_TRAINING.format(steps=30), "target: 97%"),
    Mistake("count_parameters", "test_count_parameters", "returns a float (sums of float arrays)", '''
def count_parameters(layer_sizes):
    s = np.array(layer_sizes, dtype=float)
    return np.dot(s[:-1], s[1:]) + np.sum(s[1:])
''', "expected the integer 26, got a numpy float64"),
    Mistake("count_parameters", "test_count_parameters", "returns a one-element array", '''
def count_parameters(layer_sizes):
    s = np.array(layer_sizes)
    return np.array([np.sum(s[:-1] * s[1:] + s[1:])])
''', "expected the integer 26, got an array"),
    Mistake("xavier_init", "test_xavier_init", "returns a torch tensor", '''
def xavier_init(fan_in, fan_out, rng):
    return torch.tensor(rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out)))
''', "returned a Tensor: return a numpy array"),
    Mistake("xavier_init", "test_xavier_init", "draws +-std at random (right variance, two values)", '''
def xavier_init(fan_in, fan_out, rng):
    return np.sqrt(2.0 / (fan_in + fan_out)) * rng.choice([-1.0, 1.0], size=(fan_in, fan_out))
''', "only 2 distinct values"),
    Mistake("collapse_linear", "test_collapse_linear", "returns Python lists", '''
def collapse_linear(W1, b1, W2, b2):
    return (W1 @ W2).tolist(), (b1 @ W2 + b2).tolist()
''', "returned a list: return a numpy array"),
    Mistake("xor_network", "test_xor_network", "writes the weights as Python lists", '''
def xor_network():
    return [([[1.0, 1.0], [1.0, 1.0]], [0.0, -1.0]), ([[1.0], [-2.0]], [0.0])]
''', "returned a list: return a numpy array"),
    Mistake("train_spiral_classifier", "test_train_spiral_classifier", "a softmax after the last layer", '''
def train_spiral_classifier(X, y, device):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2),
                          nn.Softmax(dim=1)).to(device)
''' + _SPIRAL_TRAINING.format(steps=1000), "are probabilities"),
    Mistake("train_spiral_classifier", "test_train_spiral_classifier", "a sigmoid after the last layer", '''
def train_spiral_classifier(X, y, device):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2),
                          nn.Sigmoid()).to(device)
''' + _SPIRAL_TRAINING.format(steps=1000), "remove the softmax or sigmoid"),
    Mistake("train_spiral_classifier", "test_train_spiral_classifier", "a ReLU after the last layer", '''
def train_spiral_classifier(X, y, device):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2),
                          nn.ReLU()).to(device)
''' + _SPIRAL_TRAINING.format(steps=1000), "same class for every fresh point"),
]
