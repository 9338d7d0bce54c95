#!/usr/bin/python3
"""Pretrains torchvision's resnet18 on Fashion-MNIST's SOURCE classes for bench/transfer.sh.

    /usr/bin/python3 bench/transfer_pretrain.py OUT.pth [--classes 1,2,4,5,6,8,9] [--per-class 3000]
                                                 [--epochs 3] [--threads 2] [--seed 0]

Images: 28x28 zero-padded to 32x32, the grey value copied into 3 channels and normalised with
ImageNet's per-channel mean and std (what woundphase does with `--normalization imagenet` for a
1-channel map given to a 3-channel model), so the exported backbone sees the same inputs in both
programs. Writes the whole model's state_dict (its 7-way classifier included; the exporter drops it).
"""
import argparse
import gzip
import time

import numpy as np
import torch
import torchvision

DATA = "/usr/share/datasets/fashion-mnist"
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def read(kind):
    with gzip.open(f"{DATA}/{kind}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(f"{DATA}/{kind}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return images, labels


def to_input(images):
    x = torch.zeros(len(images), 1, 32, 32)
    x[:, 0, 2:30, 2:30] = torch.from_numpy(images.astype(np.float32) / 255)
    return (x.expand(-1, 3, -1, -1) - MEAN) / STD


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--classes", default="1,2,4,5,6,8,9")
    parser.add_argument("--per-class", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    classes = [int(c) for c in a.classes.split(",")]
    images, labels = read("train")
    rng = np.random.default_rng(a.seed)
    rows = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[: a.per_class] for c in classes])
    x = to_input(images[rows])
    y = torch.tensor([classes.index(int(c)) for c in labels[rows]])
    model = torchvision.models.resnet18(num_classes=len(classes))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.time()
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(len(y))
        total = 0.0
        for i in range(0, len(y), 128):
            b = order[i : i + 128]
            loss = torch.nn.functional.cross_entropy(model(x[b]), y[b])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(b)
        print(f"epoch {epoch + 1}: loss {total / len(y):.4f} ({time.time() - start:.0f} s)", flush=True)
    test_images, test_labels = read("t10k")
    keep = np.isin(test_labels, classes)
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(to_input(test_images[keep][i : i + 1000])).argmax(1)
                          for i in range(0, int(keep.sum()), 1000)])
    truth = torch.tensor([classes.index(int(c)) for c in test_labels[keep]])
    print(f"source-task test accuracy {(pred == truth).float().mean().item():.4f} "
          f"on {len(truth)} images of classes {classes}")
    torch.save(model.state_dict(), a.out)


if __name__ == "__main__":
    main()
