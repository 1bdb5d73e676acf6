"""Write a trained run's model as a bundled checkpoint: the bundle's domain names, licence and provenance, fp16 storage.

    python scripts/write_bundle.py RUN/model.safetensors OUT.safetensors --domains a,b --license SPDX \
        --steps-before N --provenance '{"trained_by": ..., "steps": null, ...}' [--dataset-name NAME]

Provenance is the JSON object given, in its order; its "steps" becomes N + the run's own step count (the stages
trained before the run, e.g. on a GPU, plus the fine-tune). --dataset-name renames the first labelled dataset
(attribute models).
"""

from __future__ import annotations

import argparse
import json

import torch

from gantrans.io.checkpoint import load_checkpoint, save_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--domains", required=True, help="comma list")
    ap.add_argument("--license", required=True)
    ap.add_argument("--provenance", required=True, help='JSON object; its "steps" is filled in')
    ap.add_argument("--steps-before", type=int, default=0)
    ap.add_argument("--dataset-name")
    args = ap.parse_args()
    ck = load_checkpoint(args.model)
    ck.domains, ck.license = args.domains.split(","), args.license
    if args.dataset_name:
        ck.labels["datasets"][0]["name"] = args.dataset_name
    run_steps = ck.provenance["steps"]
    ck.provenance = json.loads(args.provenance)
    ck.provenance["steps"] = args.steps_before + run_steps
    save_checkpoint(ck, args.out, dtype=torch.float16)
    print(args.out)


if __name__ == "__main__":
    main()
