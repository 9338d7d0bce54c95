#!/usr/bin/python3
"""Exports a torchvision architecture as a TorchScript feature extractor for woundphase.

    /usr/bin/python3 scripts/export_backbone.py ARCH OUT.pt --weights FILE
    /usr/bin/python3 scripts/export_backbone.py ARCH OUT.pt --weights torchvision
    /usr/bin/python3 scripts/export_backbone.py ARCH OUT.pt --random

The file's forward(x) takes float images [N, 3, S, S] (normalised as the weights expect: ImageNet
weights want `--normalization imagenet`) and returns the pooled embedding [N, D], which is what
`woundphase search --backbone torchscript:OUT.pt` fine-tunes (the classifier of the architecture is
dropped; woundphase adds its own); its features(x) returns the last feature map [N, D, h, w], which
woundphase pools the same way and `predict --explain` uses for Grad-CAM. 1-channel maps (thermal_map, depth_map) are given to it as three
copies of the map.

--weights FILE        a state_dict of the whole torchvision model (what `torch.save(model.state_dict(),
                      FILE)` writes, with or without its classifier), e.g. ImageNet weights fetched on
                      a machine with internet, or a model you trained yourself;
--weights torchvision torchvision's own download cache ($TORCH_HOME/hub/checkpoints) for the
                      architecture's default ImageNet weights, if a download ever put them there;
--random              no weights (He initialisation): only for tests and as the control of a transfer
                      experiment; refused unless asked for, so a missing weights file never silently
                      gives a random backbone.

Use Debian's python3-torch (the same torch as woundphase's libtorch): files written by PyTorch 2.x
may not load in libtorch 1.13. Exit codes: 0 written, 2 bad input (named), 1 internal error.
"""
import argparse
import os
import sys

import torch

ARCHITECTURES = {
    # name: (torchvision constructor, attribute of the classifier replaced by identity, D)
    "resnet18": ("resnet18", "fc", 512),
    "resnet34": ("resnet34", "fc", 512),
    "resnet50": ("resnet50", "fc", 2048),
    "densenet121": ("densenet121", "classifier", 1024),
    "efficientnet_b0": ("efficientnet_b0", "classifier", 1280),
    "efficientnet_b1": ("efficientnet_b1", "classifier", 1280),
    "efficientnet_b2": ("efficientnet_b2", "classifier", 1408),
    "efficientnet_b3": ("efficientnet_b3", "classifier", 1536),
    "mobilenet_v3_small": ("mobilenet_v3_small", "classifier", 576),
}
PROBE_SIZE = 64  # side of the probe images (every architecture above pools adaptively)


class InputError(Exception):
    pass


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="export_backbone.py",
        description="Export a torchvision architecture as a TorchScript feature extractor.")
    parser.add_argument("arch", help="one of: " + ", ".join(ARCHITECTURES))
    parser.add_argument("out", help="the TorchScript file to write (.pt)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--weights", help="a state_dict file, or 'torchvision' (its cache)")
    source.add_argument("--random", action="store_true", help="no weights (tests, controls)")
    parser.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    return parser.parse_args(argv)


def torchvision_cache_file(arch):
    from torchvision import models
    weights = models.get_model_weights(arch).DEFAULT
    path = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
    if not os.path.isfile(path):
        raise InputError(
            f"--weights torchvision: {arch}'s ImageNet weights are not in torchvision's cache "
            f"({path}); fetch {weights.url} on a machine with internet and pass the file "
            f"with --weights FILE")
    return path


def load_state_dict(path, arch):
    if not os.path.isfile(path):
        raise InputError(f"--weights: '{path}' does not exist")
    try:
        state = torch.load(path, map_location="cpu")
    except Exception as e:  # torch raises many kinds for a file that is not a checkpoint
        raise InputError(f"--weights: '{path}' is not a torch checkpoint: {e}") from e
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]  # a training checkpoint wrapping the weights
    if not isinstance(state, dict):
        raise InputError(f"--weights: '{path}' holds a {type(state).__name__}, not a state_dict")
    # DataParallel's "module." prefix.
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def body_of(arch, model):
    """The architecture's convolutional body: images to the last feature map (before pooling)."""
    if arch.startswith("resnet"):
        return torch.nn.Sequential(*list(model.children())[:-2])  # without avgpool and fc
    if arch.startswith("densenet"):
        return torch.nn.Sequential(model.features, torch.nn.ReLU())  # torchvision's forward
    return model.features  # efficientnet, mobilenet


class Extractor(torch.nn.Module):
    """features(x): the last feature map [N, K, h, w] (woundphase pools it, and Grad-CAM explains
    it); forward(x): the pooled embedding [N, K]."""

    def __init__(self, body):
        super().__init__()
        self.body = body

    @torch.jit.export
    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return torch.flatten(torch.nn.functional.adaptive_avg_pool2d(self.body(x), 1), 1)


def build(arch, weights, random):
    from torchvision import models
    if arch not in ARCHITECTURES:
        raise InputError(f"ARCH: unknown '{arch}'; one of: {', '.join(ARCHITECTURES)}")
    constructor, classifier, dim = ARCHITECTURES[arch]
    model = getattr(models, constructor)(weights=None)
    if not random:
        if weights is None:
            raise InputError("give --weights FILE (or --weights torchvision), or --random for "
                             "an untrained backbone")
        path = torchvision_cache_file(constructor) if weights == "torchvision" else weights
        state = load_state_dict(path, arch)
        head = classifier + "."
        without_head = {k: v for k, v in state.items() if not k.startswith(head)}
        expected = {k for k in model.state_dict() if not k.startswith(head)}
        missing = sorted(expected - set(without_head))
        unexpected = sorted(set(without_head) - expected)
        if missing or unexpected:
            raise InputError(
                f"--weights: '{path}' does not fit {arch}: {len(missing)} missing "
                f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        for k, v in without_head.items():
            if model.state_dict()[k].shape != v.shape:
                raise InputError(f"--weights: '{path}': {k} has shape {tuple(v.shape)}, "
                                 f"{arch} wants {tuple(model.state_dict()[k].shape)}")
        model.load_state_dict(without_head, strict=False)
    extractor = Extractor(body_of(arch, model))
    extractor.eval()
    scripted = torch.jit.script(extractor)
    with torch.no_grad():
        out = scripted(torch.zeros(2, 3, PROBE_SIZE, PROBE_SIZE))
    if tuple(out.shape) != (2, dim):
        raise RuntimeError(f"{arch}: the exported model returns {tuple(out.shape)}, not (2, {dim})")
    return scripted, dim


def main(argv):
    args = parse_args(argv)
    if os.path.exists(args.out) and not args.force:
        raise InputError(f"OUT: '{args.out}' exists; pass --force to overwrite it")
    scripted, dim = build(args.arch, args.weights, args.random)
    tmp = args.out + ".tmp"
    scripted.save(tmp)
    os.replace(tmp, args.out)  # never a half-written file under OUT's name
    source = "random weights" if args.random else f"weights from {args.weights}"
    print(f"wrote {args.out}: {args.arch} feature extractor, embedding {dim}, {source}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except InputError as e:
        print(f"export_backbone.py: {e}", file=sys.stderr)
        sys.exit(2)
