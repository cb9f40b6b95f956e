"""Chapter 4 (04-cnn): wrong answers students really write.

The order matters to the demo class (autograder/demo.py): one student makes the first and the
last mistakes, another the 3rd, 8th and 13th, and each student's must belong to different parts.
"""
from autograder.mistakes import Alternative, Mistake

_HEAD = '''
def {name}(x, w, b, stride=1, padding=0):
    N, C_in, H, W = x.shape
    C_out, _, kH, kW = w.shape
    H_out = (H + 2 * padding - kH) // stride + 1
    W_out = (W + 2 * padding - kW) // stride + 1
'''
_CONV_HEAD, _UNFOLD_HEAD = _HEAD.format(name="conv2d_loops"), _HEAD.format(name="conv2d_unfold")


def _conv_loops(pad="(padding, padding), (padding, padding)", cols="j * stride:j * stride + kW",
                kernel="w[co]", bias=" + b[co]"):
    """The reference's loops with one thing changed: the padding, the window's columns, the
    kernel or the bias."""
    return _CONV_HEAD + f'''
    xp = np.pad(x, ((0, 0), (0, 0), {pad}))
    out = np.zeros((N, C_out, H_out, W_out))
    for n in range(N):
        for co in range(C_out):
            for i in range(H_out):
                for j in range(W_out):
                    window = xp[n, :, i * stride:i * stride + kH, {cols}]
                    out[n, co, i, j] = np.sum(window * {kernel}){bias}
    return out
'''


_DIGIT_CNN = '''
class DigitCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = {classifier}

    def forward(self, x):
        return {forward}
'''

_TRAINING = '''
def train_cnn(model, train_loader, device):
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr={lr})
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range({epochs}):
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
{zero_grad}            loss = loss_fn(model(images), labels)
            loss.backward()
            optimizer.step()
{ret}'''


def _training(lr="3e-3", epochs=15, zero_grad=True, ret="    return model\n"):
    return _TRAINING.format(lr=lr, epochs=epochs, ret=ret,
                            zero_grad="            optimizer.zero_grad()\n" if zero_grad else "")


MISTAKES = [
    # Part 1: conv_output_size
    Mistake("conv_output_size", "test_conv_output_size", "forgets the + 1", '''
def conv_output_size(n, kernel, padding=0, stride=1, dilation=1):
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride
''', "expected 6, got 5"),
    Mistake("conv_output_size", "test_conv_output_size", "ignores the dilation", '''
def conv_output_size(n, kernel, padding=0, stride=1, dilation=1):
    return (n + 2 * padding - kernel) // stride + 1
''', "dilation=2): expected 4, got 6"),
    Mistake("conv_output_size", "test_conv_output_size", "true division: returns a float", '''
def conv_output_size(n, kernel, padding=0, stride=1, dilation=1):
    return (n + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
''', "return a whole number (an int)"),
    # Part 2: conv2d_loops
    Mistake("conv2d_loops", "test_conv2d_loops", "flips the kernel (a true convolution)",
            _conv_loops(kernel="w[co, :, ::-1, ::-1]"), "you flipped the kernel"),
    Mistake("conv2d_loops", "test_conv2d_loops", "pads the top and left sides only",
            _conv_loops(pad="(padding, 0), (padding, 0)"), "pad `padding` zeros on every side"),
    Mistake("conv2d_loops", "test_conv2d_loops", "indexes the weights as w[ci, co]", _CONV_HEAD + '''
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((N, C_out, H_out, W_out))
    for n in range(N):
        for co in range(C_out):
            for ci in range(C_in):
                for i in range(H_out):
                    for j in range(W_out):
                        window = xp[n, ci, i * stride:i * stride + kH, j * stride:j * stride + kW]
                        out[n, co, i, j] += np.sum(window * w[ci, co])
            out[n, co] += b[co]
    return out
''', "w has shape (C_out, C_in, kH, kW)"),
    Mistake("conv2d_loops", "test_conv2d_loops", "applies the stride to the rows only",
            _conv_loops(cols="j:j + kW"), "step both axes by the stride"),
    Mistake("conv2d_loops", "test_conv2d_loops", "forgets the bias", _conv_loops(bias=""), "the bias is missing"),
    # Part 3: conv2d_unfold
    Mistake("conv2d_unfold", "test_conv2d_unfold", "calls torch's own F.conv2d", '''
def conv2d_unfold(x, w, b, stride=1, padding=0):
    return F.conv2d(x, w, b, stride=stride, padding=padding)
''', "calls torch's own convolution"),
    Mistake("conv2d_unfold", "test_conv2d_unfold", "computes in float32 whatever the input's dtype", _UNFOLD_HEAD + '''
    cols = F.unfold(x.float(), (kH, kW), padding=padding, stride=stride)
    out = w.float().reshape(C_out, -1) @ cols + b.float().reshape(1, C_out, 1)
    return out.reshape(N, C_out, H_out, W_out)
''', "returned float32 for float64 inputs"),
    Mistake("conv2d_unfold", "test_conv2d_unfold", "reshapes an (N, L, C_out) product without transposing it",
            _UNFOLD_HEAD + '''
    cols = F.unfold(x, (kH, kW), padding=padding, stride=stride)
    out = cols.transpose(1, 2) @ w.reshape(C_out, -1).T + b
    return out.reshape(N, C_out, H_out, W_out)
''', "must be transposed first"),
    Mistake("conv2d_unfold", "test_conv2d_unfold", "leaves the padding out of unfold", _UNFOLD_HEAD + '''
    cols = F.unfold(x, (kH, kW), stride=stride)
    out = w.reshape(C_out, -1) @ cols + b.reshape(1, C_out, 1)
    return out.reshape(N, C_out, H_out, W_out)
''', "F.unfold(x, (kH, kW), padding=padding, stride=stride)"),
    Mistake("conv2d_unfold", "test_conv2d_unfold", "vectorises each row but loops over the rows", _UNFOLD_HEAD + '''
    xp = F.pad(x, (padding, padding, padding, padding))
    rows = []
    for i in range(H_out):
        band = xp[:, :, i * stride:i * stride + kH, :].unfold(3, kW, stride)   # (N, C_in, kH, W_out, kW)
        rows.append(torch.einsum("nchwk,ochk->now", band, w))
    return torch.stack(rows, dim=2) + b.reshape(1, C_out, 1, 1)
''', "a Python loop over the rows or the pixels"),
    # Part 4: max_pool2d
    Mistake("max_pool2d", "test_max_pool2d", "the stride defaults to 1 instead of the kernel size", '''
def max_pool2d(x, kernel, stride=1):
    windows = x.unfold(2, kernel, stride).unfold(3, kernel, stride)
    return windows.amax(dim=(-2, -1))
''', "the stride defaults to the kernel size"),
    Mistake("max_pool2d", "test_max_pool2d", "starts every maximum from 0", '''
def max_pool2d(x, kernel, stride=None):
    stride = kernel if stride is None else stride
    N, C, H, W = x.shape
    H_out, W_out = (H - kernel) // stride + 1, (W - kernel) // stride + 1
    out = torch.zeros(N, C, H_out, W_out, dtype=x.dtype, device=x.device)
    for u in range(kernel):
        for v in range(kernel):
            out = torch.maximum(out, x[:, :, u:u + stride * (H_out - 1) + 1:stride, v:v + stride * (W_out - 1) + 1:stride])
    return out
''', "never start from 0"),
    Mistake("max_pool2d", "test_max_pool2d", "calls torch's own F.max_pool2d", '''
def max_pool2d(x, kernel, stride=None):
    return F.max_pool2d(x, kernel, stride)
''', "calls torch's own max pooling"),
    # Part 5: DigitCNN
    Mistake("DigitCNN", "test_DigitCNN", "ends with 64 features instead of 10 class scores",
            _DIGIT_CNN.format(classifier="nn.Linear(64 * 2 * 2, 64)", forward="self.classifier(self.features(x).flatten(1))"),
            "shape of DigitCNN()(x) for x of shape (1, 1, 8, 8)"),
    Mistake("DigitCNN", "test_DigitCNN", "flattens with a hard-coded batch size",
            _DIGIT_CNN.format(classifier="nn.Linear(64 * 2 * 2, 10)", forward="self.classifier(self.features(x).view(64, -1))"),
            "never with a fixed batch size"),
    Mistake("DigitCNN", "test_DigitCNN", "an MLP without any convolution", '''
class DigitCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))

    def forward(self, x):
        return self.layers(x)
''', "has no nn.Conv2d layer"),
    Mistake("DigitCNN", "test_DigitCNN", "flattens the full 8x8 feature maps into a huge linear layer", '''
class DigitCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(64 * 8 * 8, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))
''', "the cap is 50,000"),
    Mistake("DigitCNN", "test_DigitCNN", "ends with a softmax",
            _DIGIT_CNN.format(classifier="nn.Sequential(nn.Linear(64 * 2 * 2, 10), nn.Softmax(dim=1))",
                              forward="self.classifier(self.features(x).flatten(1))"),
            "returned probabilities"),
    Mistake("conv2d_loops", "test_conv2d_loops", "scipy's correlate2d per image and channel", '''
from scipy.signal import correlate2d


def conv2d_loops(x, w, b, stride=1, padding=0):
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.stack([np.stack([sum(correlate2d(xp[n, c], w[o, c], mode="valid") for c in range(x.shape[1])) + b[o]
                              for o in range(w.shape[0])]) for n in range(x.shape[0])])
    return out[:, :, ::stride, ::stride]
''', "it calls a library's convolution"),
    Mistake("conv2d_loops", "test_conv2d_loops", "torch's conv2d on the arrays", '''
def conv2d_loops(x, w, b, stride=1, padding=0):
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=float))
    return F.conv2d(t(x), t(w), t(b), stride=stride, padding=padding).numpy()
''', "it calls a library's convolution"),
    # Part 6: train_cnn
    Mistake("train_cnn", "test_train_cnn", "never resets the gradients (no zero_grad)", _training(zero_grad=False),
            "optimizer.zero_grad() before each loss.backward()"),
    Mistake("train_cnn", "test_train_cnn", "trains for a single epoch at a small learning rate",
            _training(lr="1e-3", epochs=1), "target: 98%"),
    Mistake("train_cnn", "test_train_cnn", "forgets to return the model", _training(ret=""),
            "returned None"),
    # Part 7: dropout
    Mistake("dropout", "test_dropout", "keeps the kept values unscaled", '''
def dropout(x, p_keep, training=True):
    if not training:
        return x
    return x * (torch.rand_like(x) < p_keep)
''', "not by 1/p_keep"),
    Mistake("dropout", "test_dropout", "p_keep used as the drop probability", '''
def dropout(x, p_keep, training=True):
    if not training:
        return x
    return x * (torch.rand_like(x) >= p_keep) / p_keep
''', "p_keep is the probability to KEEP a value"),
    Mistake("conv2d_loops", "test_conv2d_loops", "returns a torch tensor", _CONV_HEAD + '''
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((N, C_out, H_out, W_out))
    for n in range(N):
        for co in range(C_out):
            for i in range(H_out):
                for j in range(W_out):
                    window = xp[n, :, i * stride:i * stride + kH, j * stride:j * stride + kW]
                    out[n, co, i, j] = np.sum(window * w[co]) + b[co]
    return torch.from_numpy(out)
''', "returned a Tensor: return a numpy array"),
    Mistake("conv2d_loops", "test_conv2d_loops", "torch's F.unfold and a matrix product instead of loops", '''
def conv2d_loops(x, w, b, stride=1, padding=0):
    xt, wt, bt = (torch.as_tensor(a) for a in (x, w, b))
    N, C_in, H, W = xt.shape
    C_out, _, kH, kW = wt.shape
    H_out = (H + 2 * padding - kH) // stride + 1
    W_out = (W + 2 * padding - kW) // stride + 1
    cols = F.unfold(xt, (kH, kW), padding=padding, stride=stride)
    return (wt.reshape(C_out, -1) @ cols + bt.reshape(1, -1, 1)).reshape(N, C_out, H_out, W_out).numpy()
''', "torch's conv2d or unfold"),
    Mistake("max_pool2d", "test_max_pool2d", "starts the running maximum from -1e9", '''
def max_pool2d(x, kernel, stride=None):
    stride = kernel if stride is None else stride
    N, C, H, W = x.shape
    H_out, W_out = (H - kernel) // stride + 1, (W - kernel) // stride + 1
    out = torch.full((N, C, H_out, W_out), -1e9, dtype=x.dtype, device=x.device)
    for u in range(kernel):
        for v in range(kernel):
            out = torch.maximum(out, x[:, :, u:u + stride * (H_out - 1) + 1:stride,
                                       v:v + stride * (W_out - 1) + 1:stride])
    return out
''', "below -1e9"),
    Mistake("DigitCNN", "test_DigitCNN", "a ReLU after the last layer", _DIGIT_CNN.format(
        classifier="nn.Sequential(nn.Linear(64 * 2 * 2, 10), nn.ReLU())",
        forward="self.classifier(self.features(x).flatten(1))"), "are never negative"),
    Mistake("DigitCNN", "test_DigitCNN", "softmax scaled by 10 (rows sum to 10)", _DIGIT_CNN.format(
        classifier="nn.Linear(64 * 2 * 2, 10)",
        forward="torch.softmax(self.classifier(self.features(x).flatten(1)), dim=1) * 10"), "are never negative"),
    Mistake("dropout", "test_dropout", "detaches the output: no gradient reaches x", '''
def dropout(x, p_keep, training=True):
    if not training:
        return x
    return (x * (torch.rand_like(x) < p_keep) / p_keep).detach()
''', "no gradient flows back to x"),
    Mistake("dropout", "test_dropout", "draws the mask with numpy's global generator", '''
def dropout(x, p_keep, training=True):
    if not training:
        return x
    keep = torch.as_tensor(np.random.rand(*x.shape) < p_keep, device=x.device)
    return x * keep / p_keep
''', "after the same torch.manual_seed"),
    Mistake("dropout", "test_dropout", "drops values at evaluation too", '''
def dropout(x, p_keep, training=True):
    return x * (torch.rand_like(x) < p_keep) / p_keep
''', "at evaluation dropout does nothing"),
]

# Correct answers written otherwise than the reference: each must pass every test.
ALTERNATIVES = [
    Alternative("conv2d_unfold", "a loop over the kernel's offsets, each a strided slice and an einsum", _UNFOLD_HEAD + '''
    xp = F.pad(x, (padding, padding, padding, padding))
    out = torch.zeros(N, C_out, H_out, W_out, dtype=x.dtype, device=x.device)
    for i in range(kH):
        for j in range(kW):
            patch = xp[:, :, i:i + stride * (H_out - 1) + 1:stride, j:j + stride * (W_out - 1) + 1:stride]
            out = out + torch.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return out + b.reshape(1, C_out, 1, 1)
'''),
    Alternative("dropout", "torch.bernoulli and torch.where", '''
def dropout(x, p_keep, training=True):
    if training and p_keep < 1:
        mask = torch.bernoulli(torch.full_like(x, p_keep))
        return torch.where(mask.bool(), x / p_keep, torch.zeros_like(x))
    return x
'''),
    Alternative("dropout", "an in-place Bernoulli draw on a new tensor", '''
def dropout(x, p_keep, training=True):
    if not training:
        return x
    return x * torch.empty_like(x).bernoulli_(p_keep).div_(p_keep)
'''),
]
