#!/usr/bin/env python3
"""Loads a state dict that byol::models::save_state_dict wrote into torchvision's resnet50.

    python3 check_torchvision_load.py FILE

Exit 0 when torch.load reads FILE with weights_only=True (the loader that accepts no code, and
PyTorch's default from 2.6) and load_state_dict(strict=False) reports only fc.* missing and
nothing unexpected, and the loaded tensors equal the file's; prints what differs otherwise.
"""
import sys

import torch
import torchvision


def main(path):
    state = torch.load(path, weights_only=True)
    model = torchvision.models.resnet50()
    result = model.load_state_dict(state, strict=False)
    missing, unexpected = sorted(result.missing_keys), sorted(result.unexpected_keys)
    ok = missing == ["fc.bias", "fc.weight"] and not unexpected
    reference = model.state_dict()
    mismatched = [k for k, v in state.items() if not torch.equal(reference[k], v)]
    ok = ok and not mismatched
    print(f"keys in file: {len(state)}, missing: {missing}, unexpected: {unexpected}, "
          f"values differing after load: {mismatched[:5]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
