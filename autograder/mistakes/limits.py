"""Chapter 9 (09-limits): wrong answers students really write, and correct answers written
otherwise than the reference.

Each wrong answer is the reference's cell with one thing changed (templates below), so a test
that catches it catches that one slip. The order matters to the demo class (autograder/demo.py):
the first and last mistakes, and the 3rd, 8th and 13th, each belong to different parts.
"""
from autograder.mistakes import Alternative, Mistake

_FGSM = '''
def fgsm(model, x, y, eps):
    was_training = model.training
    {mode}
    x = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy({logits}, y)
    (grad,) = torch.autograd.grad(loss, x)
    model.train(was_training)
    return {result}.detach()
'''


def _fgsm(mode="model.eval()", logits="model(x)", result="(x + eps * grad.sign()).clamp(0.0, 1.0)"):
    return _FGSM.format(mode=mode, logits=logits, result=result)


_ATTACK = '''
def accuracy_under_attack(model, X, y, eps):
    adv = fgsm(model, X, {labels}, eps)
    was_training = model.training
    {mode}
    with torch.no_grad():
        correct = (model({images}).argmax(1) == y).float().mean().item()
    model.train(was_training)
    return {result}
'''


def _attack(labels="y", mode="model.eval()", images="adv", result="correct"):
    return _ATTACK.format(labels=labels, mode=mode, images=images, result=result)


_ECE = '''
def expected_calibration_error(probs, labels, n_bins=10):
    confidence, predicted = probs.double().max(1)
    {confidence}
    correct = (predicted == labels).double()
    bins = {bins}
    ece = 0.0
    for b in range(n_bins):
        inside = bins == b
        if {nonempty}:
            ece += {weight} * {gap}
    return float(ece)
'''


def _ece(confidence="", bins="(confidence * n_bins).long().clamp(max=n_bins - 1)", nonempty="inside.any()",
         weight="inside.double().mean()", gap="(correct[inside].mean() - confidence[inside].mean()).abs()"):
    return _ECE.format(confidence=confidence, bins=bins, nonempty=nonempty, weight=weight, gap=gap)


_TEMPERATURE_SEARCH = '''
def fit_temperature(logits, labels):
    logits = logits.detach().double()
    best, best_loss = None, float("inf")
    for T in {grid}:
        loss = float(F.cross_entropy({scaled}, labels))
        if loss < best_loss:
            best, best_loss = float(T), loss
    return best
'''

_QUANTIZE = '''
def quantize(w, bits, per_channel=False):
    qmax = {qmax}
    w = w.detach().float()
    if per_channel:
        peak = {peak_channel}
    else:
        peak = {peak_tensor}
    scale = {scale}
    q = {q}
    return q, scale


def dequantize(q, scale):
    return {dequantize}
'''


def _quantize(qmax="2 ** (bits - 1) - 1",
              peak_channel="w.abs().reshape(len(w), -1).amax(1).reshape(-1, *[1] * (w.dim() - 1))",
              peak_tensor="w.abs().max()", scale="torch.where(peak > 0, peak / qmax, torch.ones_like(peak))",
              q="torch.round(w / scale).clamp(-qmax, qmax).to(torch.int8)", dequantize="q.float() * scale"):
    return _QUANTIZE.format(qmax=qmax, peak_channel=peak_channel, peak_tensor=peak_tensor, scale=scale, q=q,
                            dequantize=dequantize)


_DISTILL = '''
def distillation_loss(student_logits, teacher_logits, labels, T, alpha):
    log_p = F.log_softmax(teacher_logits / {t_teacher}, dim=1)
    log_q = F.log_softmax(student_logits / {t_student}, dim=1)
    soft = {soft}
    loss = {weight} * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)
    return {result}
'''


def _distill(t_teacher="T", t_student="T", soft="(log_p.exp() * (log_p - log_q)).sum(1).mean()",
             weight="alpha * T ** 2", result="loss"):
    return _DISTILL.format(t_teacher=t_teacher, t_student=t_student, soft=soft, weight=weight, result=result)


_STUDENT = '''
def train_distilled_student(teacher, device):
    T, alpha, epochs = 4.0, 0.9, {epochs}
    X, y = X_fit.to(device), y_fit.to(device)
    teacher.eval()
    with torch.no_grad():
        teacher_logits = teacher(X)
    student = nn.Sequential(
        nn.Conv2d(1, {width}, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d({width}, 2 * {width}, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * {width} * 4, 10)).to(device)
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)
    for _ in range(epochs):
        order = torch.randperm(len(y), device=device)
        for k in range(0, len(y), 64):
            idx = order[k:k + 64]
            logits = student(X[idx])
            log_p = F.log_softmax(teacher_logits[idx] / T, dim=1)
            soft = (log_p.exp() * (log_p - F.log_softmax(logits / T, dim=1))).sum(1).mean()
            loss = alpha * T ** 2 * soft + (1 - alpha) * F.cross_entropy(logits, y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return {returned}
'''


def _student(epochs=30, width=8, returned="student.eval()"):
    return _STUDENT.format(epochs=epochs, width=width, returned=returned)


_TEACHER_INSIDE = '''
class Student(nn.Module):
    """Looks small: the teacher hides in a list, where parameters() does not count it."""

    def __init__(self, teacher):
        super().__init__()
        self.hidden = [teacher]
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return self.hidden[0](x) * self.scale


def train_distilled_student(teacher, device):
    return Student(teacher).to(device).eval()
'''

MISTAKES = [
    Mistake("fgsm", "test_fgsm", "the gradient's sign dropped (x - eps * sign)",
            _fgsm(result="(x - eps * grad.sign()).clamp(0.0, 1.0)"), "the attack must climb the loss"),
    Mistake("fgsm", "test_fgsm", "the gradient itself instead of its sign",
            _fgsm(result="(x + eps * grad).clamp(0.0, 1.0)"), "not the gradient itself"),
    Mistake("fgsm", "test_fgsm", "the attack computed in train mode",
            _fgsm(mode="model.train()"), "it ran the model in train mode"),
    Mistake("fgsm", "test_fgsm", "a model handed over in train mode is not switched to eval",
            _fgsm(mode="pass"), "it ran the model in train mode"),
    Mistake("fgsm", "test_fgsm", "clamping to the pixel range forgotten",
            _fgsm(result="(x + eps * grad.sign())"), "clamp the attacked images to the pixel range"),
    Mistake("fgsm", "test_fgsm", "softmax before the cross-entropy",
            _fgsm(logits="model(x).softmax(1)"), "no softmax before it"),
    Mistake("accuracy_under_attack", "test_accuracy_under_attack", "accuracy on the clean images",
            _attack(images="X"), "attack them first with your fgsm"),
    Mistake("accuracy_under_attack", "test_accuracy_under_attack", "a percentage",
            _attack(result="100 * correct"), "not a percentage"),
    Mistake("accuracy_under_attack", "test_accuracy_under_attack", "attacked with the model's own predictions",
            _attack(labels="model.eval()(X).argmax(1)"), "attack with the true labels y"),
    Mistake("accuracy_under_attack", "test_accuracy_under_attack", "classified without switching to eval mode",
            _attack(mode="pass"), "classify in eval mode"),
    Mistake("accuracy_under_attack", "test_accuracy_under_attack", "the model left in eval mode",
            _attack().replace("    model.train(was_training)\n", ""), "left the model in eval mode"),
    Mistake("expected_calibration_error", "test_expected_calibration_error", "confidence exactly 1 falls out of the bins",
            _ece(bins="(confidence * n_bins).long()"), "confidence exactly 1 are left out"),
    Mistake("expected_calibration_error", "test_expected_calibration_error", "bins averaged with equal weights",
            _ece(weight="1 / int((torch.bincount(bins.clamp(max=n_bins - 1)) > 0).sum())"),
            "averaged with equal weights"),
    Mistake("expected_calibration_error", "test_expected_calibration_error", "the true class's probability as confidence",
            _ece(confidence="confidence = probs.double().gather(1, labels[:, None])[:, 0]"), "the largest probability"),
    Mistake("expected_calibration_error", "test_expected_calibration_error", "signed gaps",
            _ece(gap="(correct[inside].mean() - confidence[inside].mean())"), "take the absolute value"),
    Mistake("expected_calibration_error", "test_expected_calibration_error", "empty bins give nan",
            _ece(nonempty="True"), "an empty bin contributes nothing"),
    Mistake("expected_calibration_error", "test_expected_calibration_error", "n_bins ignored: always 10 bins",
            _ece(bins="(confidence * 10).long().clamp(max=9)").replace("range(n_bins)", "range(10)"),
            "use n_bins bins"),
    Mistake("fit_temperature", "test_fit_temperature", "the logits multiplied by T",
            _TEMPERATURE_SEARCH.format(grid="torch.exp(torch.linspace(-5, 5, 4001))", scaled="logits * T"),
            "not multiplied"),
    Mistake("fit_temperature", "test_fit_temperature", "fitted on probabilities",
            _TEMPERATURE_SEARCH.format(grid="torch.exp(torch.linspace(-5, 5, 4001))", scaled="logits.softmax(1) / T"),
            "fitted on probabilities"),
    Mistake("fit_temperature", "test_fit_temperature", "a coarse grid of temperatures",
            _TEMPERATURE_SEARCH.format(grid="torch.arange(0.25, 10.01, 0.25)", scaled="logits / T"),
            "the best temperature is"),
    Mistake("fit_temperature", "test_fit_temperature", "T returned as a tensor with its graph", '''
def fit_temperature(logits, labels):
    log_t = torch.zeros((), dtype=torch.float64, device=logits.device, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(logits.double() / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return log_t.exp()
''', "still carries its graph"),
    Mistake("fit_temperature", "test_fit_temperature", "only temperatures above 1 searched",
            _TEMPERATURE_SEARCH.format(grid="torch.exp(torch.linspace(0, 5, 2001))", scaled="logits / T"),
            "the best temperature is"),
    Mistake("quantize", "test_quantize", "scale from the mean magnitude",
            _quantize(peak_channel="w.abs().reshape(len(w), -1).mean(1).reshape(-1, *[1] * (w.dim() - 1))",
                      peak_tensor="w.abs().mean()"), "mean magnitude"),
    Mistake("quantize", "test_quantize", "rounding toward zero",
            _quantize(q="(w / scale).clamp(-qmax, qmax).to(torch.int8)"), "rounded toward zero"),
    Mistake("quantize", "test_quantize", "qmax = 2**(bits - 1)", _quantize(qmax="2 ** (bits - 1)"),
            "divide by qmax = 2**(bits - 1) - 1"),
    Mistake("quantize", "test_quantize", "the largest value instead of the largest magnitude",
            _quantize(peak_channel="w.reshape(len(w), -1).amax(1).reshape(-1, *[1] * (w.dim() - 1))",
                      peak_tensor="w.max()"), "largest magnitude"),
    Mistake("quantize", "test_quantize", "per channel as the maximum over the second axis only",
            _quantize(peak_channel="w.abs().amax(dim=1, keepdim=True)"), "per output channel, the first axis"),
    Mistake("quantize", "test_quantize", "a channel of zeros divides by zero",
            _quantize(scale="peak / qmax"), "a tensor or channel of zeros gets scale 1"),
    Mistake("quantize", "test_quantize", "torch's own quantization",
            _quantize(q="torch.quantize_per_tensor(w, 1.0, 0, torch.qint8).int_repr() * 0 + "
                        "torch.round(w / scale).clamp(-qmax, qmax).to(torch.int8)"), "torch's own quantization"),
    Mistake("quantize", "test_quantize", "dequantize divides by the scale", _quantize(dequantize="q.float() / scale"),
            "dequantize multiplies"),
    Mistake("distillation_loss", "test_distillation_loss", "the T^2 factor missing",
            _distill(weight="alpha"), "the T**2 factor is missing"),
    Mistake("distillation_loss", "test_distillation_loss", "the KL divergence the wrong way round",
            _distill(soft="(log_q.exp() * (log_q - log_p)).sum(1).mean()"), "the wrong way round"),
    Mistake("distillation_loss", "test_distillation_loss", "F.kl_div with reduction='mean'",
            _distill(soft="F.kl_div(log_q, log_p, reduction='mean', log_target=True)"), "reduction='batchmean'"),
    Mistake("distillation_loss", "test_distillation_loss", "the teacher not softened",
            _distill(t_teacher="1"), "the teacher's logits are not divided by T"),
    Mistake("distillation_loss", "test_distillation_loss", "the cross-entropy with soft targets",
            _distill(soft="-(log_p.exp() * log_q).sum(1).mean()"), "the KL divergence plus the teacher's entropy"),
    Mistake("distillation_loss", "test_distillation_loss", "alpha and 1 - alpha swapped",
            _distill().replace("loss = alpha * T ** 2 * soft + (1 - alpha) *", "loss = (1 - alpha) * T ** 2 * soft + alpha *"),
            "swapped"),
    Mistake("distillation_loss", "test_distillation_loss", "the loss returned as a Python float",
            _distill(result="loss.item()"), "(no .item())"),
    Mistake("fgsm", "test_fgsm", "the model left in eval mode", _fgsm().replace("    model.train(was_training)\n", ""),
            "left the model in eval mode"),
    Mistake("fgsm", "test_fgsm", "the attack's result returned with its graph",
            _fgsm().replace(".detach()\n", "\n"), "still carries its graph"),
    Mistake("fgsm", "test_fgsm", "the caller's x given a gradient", '''
def fgsm(model, x, y, eps):
    was_training = model.training
    model.eval()
    x.requires_grad_(True)
    F.cross_entropy(model(x), y).backward()
    model.train(was_training)
    return (x + eps * x.grad.sign()).clamp(0.0, 1.0).detach()
''', "changed its input tensor"),
    Mistake("fgsm", "test_fgsm", "the model's parameters frozen for the attack and left frozen", '''
def fgsm(model, x, y, eps):
    was_training = model.training
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    model.train(was_training)
    return (x + eps * grad.sign()).clamp(0.0, 1.0).detach()
''', "changed whether the model's parameters need gradients"),
    Mistake("train_distilled_student", "test_train_distilled_student", "the student hides the teacher",
            _TEACHER_INSIDE, "the student's forward pass calls the teacher"),
    Mistake("train_distilled_student", "test_train_distilled_student", "a student too large",
            _student(width=16, epochs=1), "a quarter of the teacher's"),
    Mistake("train_distilled_student", "test_train_distilled_student", "two epochs of training",
            _student(epochs=2), "the target is 96%"),
]

ALTERNATIVES = [
    Alternative("fgsm", "summed loss, backward() and x.grad, train mode restored by hand", '''
def fgsm(model, x, y, eps):
    mode = model.training
    model.eval()
    x_adv = x.clone().detach()
    x_adv.requires_grad = True
    loss = nn.CrossEntropyLoss(reduction="sum")(model(x_adv), y)
    loss.backward()
    step = eps * torch.sign(x_adv.grad)
    model.zero_grad()
    if mode:
        model.train()
    return torch.clamp(x_adv.detach() + step, min=0, max=1)
'''),
    Alternative("accuracy_under_attack", "in batches, counting with sum, a 0-d tensor returned", '''
def accuracy_under_attack(model, X, y, eps):
    mode = model.training
    correct = torch.zeros((), device=X.device)
    for k in range(0, len(X), 32):
        adv = fgsm(model, X[k:k + 32], y[k:k + 32], eps)
        model.eval()
        with torch.no_grad():
            correct += (model(adv).argmax(dim=1) == y[k:k + 32]).sum()
    model.train(mode)
    return correct / len(X)
'''),
    Alternative("expected_calibration_error", "bins closed on the right (Guo et al.), vectorised with bincount", '''
def expected_calibration_error(probs, labels, n_bins=10):
    confidence, predicted = probs.max(dim=1)
    confidence = confidence.double()
    bins = (torch.ceil(confidence * n_bins).long() - 1).clamp(0, n_bins - 1)
    count = torch.bincount(bins, minlength=n_bins).double()
    conf_sum = torch.bincount(bins, weights=confidence, minlength=n_bins)
    acc_sum = torch.bincount(bins, weights=(predicted == labels).double(), minlength=n_bins)
    return ((acc_sum - conf_sum).abs().sum() / len(labels)).item()
'''),
    Alternative("fit_temperature", "scipy's bounded scalar search on T", '''
from scipy.optimize import minimize_scalar


def fit_temperature(logits, labels):
    z, y = logits.detach().double().cpu(), labels.cpu()
    result = minimize_scalar(lambda T: float(F.cross_entropy(z / T, y)), bounds=(0.01, 50), method="bounded",
                             options={"xatol": 1e-6})
    return result.x
'''),
    Alternative("fit_temperature", "gradient descent on log T with Adam", '''
def fit_temperature(logits, labels):
    z = logits.detach().double()
    log_t = torch.zeros(1, dtype=torch.float64, device=z.device, requires_grad=True)
    optimizer = torch.optim.Adam([log_t], lr=0.05)
    with torch.enable_grad():
        for _ in range(1500):
            loss = F.cross_entropy(z / log_t.exp(), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return log_t.exp().item()
'''),
    Alternative("quantize", "a loop over channels, rounding half up, clamp before rounding", '''
def quantize(w, bits, per_channel=False):
    qmax = 2 ** (bits - 1) - 1

    def one(t):
        peak = t.abs().max()
        scale = peak / qmax if peak > 0 else torch.tensor(1.0, device=t.device)
        return torch.floor(torch.clamp(t / scale, -qmax, qmax) + 0.5).to(torch.int8), scale.float()

    w = w.detach().float()
    if not per_channel:
        return one(w)
    pairs = [one(channel) for channel in w]
    q = torch.stack([p[0] for p in pairs])
    scale = torch.stack([p[1] for p in pairs]).reshape(len(w), *[1] * (w.dim() - 1))
    return q, scale


def dequantize(q, scale):
    return q.to(torch.float32) * scale
'''),
    Alternative("quantize", "per channel as the maximum over every axis but the first, rounding half away from zero", '''
def quantize(w, bits, per_channel=False):
    qmax = 2 ** (bits - 1) - 1
    w = w.detach().float()
    dims = tuple(range(1, w.dim())) if per_channel else tuple(range(w.dim()))
    peak = w.abs().amax(dim=dims, keepdim=per_channel)
    scale = torch.where(peak == 0, torch.ones_like(peak), peak / qmax)
    r = w / scale
    q = (torch.sign(r) * torch.floor(r.abs() + 0.5)).clamp(-qmax, qmax)
    return q.to(torch.int8), scale


def dequantize(q, scale):
    return scale * q
'''),
    Alternative("distillation_loss", "F.kl_div with batchmean, the book's hint", '''
def distillation_loss(student_logits, teacher_logits, labels, T, alpha):
    soft = F.kl_div(F.log_softmax(student_logits / T, dim=1), F.log_softmax(teacher_logits / T, dim=1),
                    reduction="batchmean", log_target=True)
    return alpha * T * T * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)
'''),
    Alternative("train_distilled_student", "an MLP student, SGD with momentum", '''
def train_distilled_student(teacher, device):
    T, alpha = 3.0, 0.8
    X, y = X_fit.to(device), y_fit.to(device)
    with torch.no_grad():
        soft_targets = teacher.eval()(X)
    student = nn.Sequential(nn.Flatten(), nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10)).to(device)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1, momentum=0.9)
    for epoch in range(60):
        for idx in torch.randperm(len(y), device=device).split(32):
            logits = student(X[idx])
            loss = distillation_loss(logits, soft_targets[idx], y[idx], T, alpha)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return student.eval()
'''),
]
