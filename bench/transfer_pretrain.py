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

import torch

DATA = "/usr/share/datasets/fashion-mnist"
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def resnet18(num_classes):
    """torchvision's resnet18 (same layout and parameter names, so the exporter loads its
    state_dict into torchvision's); defined here for machines whose torch has no torchvision."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            widths = [64, 128, 256, 512]
            cin = 64
            for i, w in enumerate(widths):
                stride = 1 if i == 0 else 2
                setattr(self, f"layer{i + 1}", nn.Sequential(Block(cin, w, stride), Block(w, w, 1)))
                cin = w
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    try:
        import torchvision
        return torchvision.models.resnet18(num_classes=num_classes)
    except ImportError:
        return ResNet18()


def read(kind, data):
    with gzip.open(f"{data}/{kind}-images-idx3-ubyte.gz") as f:
        images = torch.frombuffer(bytearray(f.read()[16:]), dtype=torch.uint8).view(-1, 28, 28)
    with gzip.open(f"{data}/{kind}-labels-idx1-ubyte.gz") as f:
        labels = torch.frombuffer(bytearray(f.read()[8:]), dtype=torch.uint8).long()
    return images, labels


def to_input(images):
    x = torch.zeros(len(images), 1, 32, 32)
    x[:, 0, 2:30, 2:30] = images.float() / 255
    return (x.expand(-1, 3, -1, -1) - MEAN) / STD


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--classes", default="1,2,4,5,6,8,9")
    parser.add_argument("--per-class", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", default=DATA)
    a = parser.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    classes = [int(c) for c in a.classes.split(",")]
    images, labels = read("train", a.data)
    generator = torch.Generator().manual_seed(a.seed)
    rows = []
    for c in classes:
        of_class = torch.nonzero(labels == c).flatten()
        rows.append(of_class[torch.randperm(len(of_class), generator=generator)[: a.per_class]])
    rows = torch.cat(rows)
    x = to_input(images[rows])
    y = torch.tensor([classes.index(int(c)) for c in labels[rows]])
    device = torch.device(a.device)
    model = resnet18(len(classes)).to(device)
    x, y = x.to(device), y.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.time()
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(len(y), device=device)
        total = 0.0
        for i in range(0, len(y), 128):
            b = order[i : i + 128]
            loss = torch.nn.functional.cross_entropy(model(x[b]), y[b])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(b)
        print(f"epoch {epoch + 1}: loss {total / len(y):.4f} ({time.time() - start:.0f} s)", flush=True)
    test_images, test_labels = read("t10k", a.data)
    keep = torch.isin(test_labels, torch.tensor(classes))
    model.eval()
    with torch.no_grad():
        kept = test_images[keep]
        pred = torch.cat([model(to_input(kept[i : i + 1000]).to(device)).argmax(1).cpu()
                          for i in range(0, len(kept), 1000)])
    truth = torch.tensor([classes.index(int(c)) for c in test_labels[keep]])
    print(f"source-task test accuracy {(pred == truth).float().mean().item():.4f} "
          f"on {len(truth)} images of classes {classes}")
    # Saved from the CPU, in the zip format torch 1.13 reads (a GPU machine's newer torch writes it too).
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, a.out,
               _use_new_zipfile_serialization=True)


if __name__ == "__main__":
    main()
