"""`reasonact collect`, `reasonact train` and `reasonact eval-detector`.

``add_commands(commands)`` registers the three subparsers on cli.py's subparsers
object. Bad input raises one of ``ERRORS`` (ValueError subclasses with one-line
messages) for cli.main to print before exiting with 2. Torch is imported only
when a command runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from reasonact_ros.arguments import positive_int, seed
from reasonact_ros.learning.errors import ERRORS, DetectorChoiceError, TrainingError

__all__ = ["ERRORS", "add_commands"]


def add_commands(commands) -> None:
    collect = commands.add_parser(
        "collect", help="render labelled camera frames from the simulator",
        description="Render camera frames with person boxes, instance ids and a walkway mask "
                    "(randomised camera, lighting, ground, poses and times) into DIR, with a "
                    "manifest of counts, seeds, settings and sha256 of every file.")
    collect.add_argument("--scenarios", default="all",
                         help="comma-separated scenario names or 'all' (default: all)")
    collect.add_argument("--frames", type=positive_int, required=True, metavar="N")
    collect.add_argument("--out", type=Path, required=True, metavar="DIR",
                         help="new output directory")
    collect.add_argument("--seed", type=seed, default=0, metavar="S")
    collect.set_defaults(run=_run_collect)

    train = commands.add_parser(
        "train", help="train the camera person + walkway network on a data set",
        description="Train PersonWalkwayNet on CPU on a collected data set; prints validation "
                    "metrics every epoch, writes MODEL, MODEL-stem.checkpoints/ and a "
                    "training summary.")
    train.add_argument("--data", type=Path, required=True, nargs="+", metavar="DIR",
                       help="one or more collected data sets, read as one")
    train.add_argument("--out", type=Path, required=True, metavar="MODEL",
                       help="model file to write (.pt)")
    train.add_argument("--val", type=Path, default=None, metavar="DIR",
                       help="validation data set (default: the last 10%% of --data)")
    train.add_argument("--epochs", type=positive_int, default=12, metavar="E")
    train.add_argument("--seed", type=seed, default=0, metavar="S")
    train.add_argument("--batch-size", type=positive_int, default=16)
    train.add_argument("--threads", type=positive_int, default=2)
    train.add_argument("--lr", type=float, default=5e-3, help="peak learning rate")
    train.add_argument("--init", type=Path, default=None, metavar="MODEL",
                       help="start from this model file's weights (fine-tuning)")
    train.add_argument("--stride", type=int, choices=(2, 4), default=None,
                       help="output stride of the people heads (default 2; with --init, the "
                            "model's): 2 separates people who stand close together in the "
                            "image, 4 trains faster")
    train.set_defaults(run=_run_train)

    evaluate = commands.add_parser(
        "eval-detector", help="score a camera person detector on a data set",
        description="Run a detector over a labelled data set and write DIR/"
                    "detector_metrics.json: map50, recall, precision, walkway_iou "
                    "(trained models only), fps at 640x480.")
    evaluate.add_argument("--data", type=Path, required=True, metavar="DIR")
    evaluate.add_argument("--model", required=True, metavar="MODEL|hog|ssd|trained",
                          help="a model file, 'trained' (the shipped model), 'hog' or 'ssd'")
    evaluate.add_argument("--out", type=Path, required=True, metavar="DIR")
    evaluate.add_argument("--threads", type=positive_int, default=2)
    evaluate.set_defaults(run=_run_evaluate)


def _run_collect(args) -> int:
    from reasonact_ros.learning.collect import collect

    manifest = collect(args.scenarios, args.frames, args.out, seed=args.seed)
    counts = manifest["counts"]
    print(f"wrote {counts['frames']} frames with {counts['people']} people from "
          f"{len(manifest['scenarios'])} scenario(s) to {args.out}")
    return 0


def _run_train(args) -> int:
    from reasonact_ros.learning.model import ModelConfig
    from reasonact_ros.learning.train import train

    if args.init is not None and args.stride is not None:
        raise TrainingError("--stride: a fine-tuned model keeps the --init model's network; "
                            "leave --stride out")
    data = args.data[0] if len(args.data) == 1 else list(args.data)
    # None: train() takes the --init model's network, else ModelConfig's defaults.
    config = ModelConfig(stride=args.stride) if args.stride is not None else None
    summary = train(data, args.out, epochs=args.epochs, seed=args.seed,
                    val_dir=args.val, batch_size=args.batch_size, threads=args.threads,
                    learning_rate=args.lr, init_model=args.init, config=config)
    best = summary["best_val"]
    print(f"best epoch {summary['best_epoch']}: mAP50 {best['map50']} walkway IoU "
          f"{best['walkway_iou']} in {summary['training_time_s']:.0f} s; model {args.out}, "
          f"checkpoints {summary['checkpoints']}")
    return 0


def _run_evaluate(args) -> int:
    from reasonact_ros.learning.evaluation import evaluate_detector, write_metrics

    name = args.model
    if name not in ("hog", "ssd", "trained") and not Path(name).is_file():
        raise DetectorChoiceError(f"--model {name}: not a model file nor one of hog, ssd, "
                                  f"trained")
    if name == "ssd":
        from reasonact_ros.perception.detectors import ssd_model_path

        try:
            ssd_model_path()
        except ValueError as error:
            raise DetectorChoiceError(str(error)) from None
    metrics = evaluate_detector(args.data, name, threads=args.threads)
    path = write_metrics(args.out, metrics)
    print(json.dumps({k: metrics[k] for k in ("map50", "recall", "precision", "walkway_iou",
                                              "fps_640x480", "fps_cpu_640x480")}))
    print(f"outputs: {path}", file=sys.stderr)
    return 0
