"""SFT on a tiny random Llama: the loss falls, only response tokens are trained on, the adapter loads, a rerun resumes."""

import json
import shutil

import pytest
import torch

from refine_af.models import load_causal_lm
from refine_af.sft import IGNORE_INDEX, tokenize_example, train

PAIRS = [
    ("### Instruction:\nName a colour.\n\n### Response:\n", "red"),
    ("### Instruction:\nName a fruit.\n\n### Response:\n", "apple"),
    ("### Instruction:\nCount to three.\n\n### Response:\n", "one, two, three"),
    ("### Instruction:\nSay hello.\n\n### Response:\n", "hello there"),
]


def sft_params(tiny_llama_dir, tmp_path, training=None, lora=None, **overrides):
    train_file = tmp_path / "train.jsonl"
    train_file.write_text("".join(json.dumps({"prompt": p, "response": r}) + "\n" for p, r in PAIRS))
    params = {
        "model": str(tiny_llama_dir),
        "dtype": "float32",
        "load_in_4bit": False,
        "device": "cpu",
        "train_file": str(train_file),
        "output_dir": str(tmp_path / "sft"),
        "max_seq_length": 64,
        "training": {
            "num_train_epochs": 20,
            "max_steps": -1,
            "learning_rate": 5e-2,
            "lr_scheduler_type": "constant",
            "warmup_ratio": 0.0,
            "per_device_train_batch_size": 2,
            "gradient_accumulation_steps": 2,
            "logging_steps": 4,
            "save_steps": 10,
            "save_total_limit": 2,
            "report_to": [],
            **(training or {}),
        },
        # lm_head too: a random tiny model's normed hidden states keep its logits near uniform; only the head can sharpen them.
        "lora": {
            "r": 8,
            "lora_alpha": 16,
            "lora_dropout": 0.0,
            "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"],
            **(lora or {}),
        },
        "merge_weights": False,
        "eval_file": None,
        "seed": 0,
        "logging_dir": str(tmp_path / "tensorboard"),
    }
    return {**params, **overrides}


def test_labels_mask_the_prompt_and_end_with_eos(embedded_tokenizer):
    prompt, response = PAIRS[0]
    example = tokenize_example(embedded_tokenizer, prompt, response, max_length=64)
    prompt_length = len(embedded_tokenizer(prompt, add_special_tokens=True)["input_ids"])
    assert example["labels"][:prompt_length] == [IGNORE_INDEX] * prompt_length
    assert example["labels"][prompt_length:] == example["input_ids"][prompt_length:]
    assert example["input_ids"][-1] == embedded_tokenizer.eos_token_id
    assert embedded_tokenizer.decode(example["input_ids"][prompt_length:-1]) == response
    assert tokenize_example(embedded_tokenizer, prompt, response, max_length=prompt_length) is None


def test_sft_lowers_the_loss_and_saves_a_loadable_adapter(tiny_llama_dir, tmp_path):
    events = []
    result = train(sft_params(tiny_llama_dir, tmp_path), events.append)
    losses = [e["loss"] for e in events if e["type"] == "loss"]
    assert len(losses) >= 4 and losses[-1] < 0.8 * losses[0]
    assert [e["step"] for e in events if e["type"] == "progress"] == list(range(1, result["steps"] + 1))
    assert result["steps"] == 20 and result["examples"] == 4 and result["resumed_from"] is None
    assert [p["loss"] for p in result["loss_curve"]] == losses

    saved = json.loads((tmp_path / "sft" / "adapter" / "refine-af-sft.json").read_text())
    assert saved["training"]["learning_rate"] == 5e-2 and saved["base_model"]["path"] == str(tiny_llama_dir)
    base = load_causal_lm(str(tiny_llama_dir), "float32", False, "cpu")
    tuned = load_causal_lm(str(tiny_llama_dir), "float32", False, "cpu", adapter=result["model_dir"])
    batch = base.tokenizer(PAIRS[0][0] + PAIRS[0][1], return_tensors="pt")
    with torch.no_grad():
        assert not torch.allclose(base.model(**batch).logits, tuned.model(**batch).logits)
    assert tuned.info()["adapter"] == result["model_dir"]


def test_the_eval_file_loss_is_measured_before_and_after_training(tiny_llama_dir, tmp_path):
    eval_file = tmp_path / "eval.jsonl"  # the training pairs: a tiny random model cannot generalise, it can only fit them
    eval_file.write_text("".join(json.dumps({"prompt": p, "response": r}) + "\n" for p, r in PAIRS))
    result = train(sft_params(tiny_llama_dir, tmp_path, eval_file=str(eval_file)), lambda e: None)
    assert result["eval_loss_after"] < 0.8 * result["eval_loss_before"]
    without = train(sft_params(tiny_llama_dir, tmp_path, training=dict(max_steps=1), output_dir=str(tmp_path / "without")), lambda e: None)
    assert without["eval_loss_before"] is None and without["eval_loss_after"] is None


def test_a_rerun_continues_from_the_last_complete_checkpoint(tiny_llama_dir, tmp_path):
    stopped = train(sft_params(tiny_llama_dir, tmp_path, training=dict(max_steps=6, save_steps=4)), lambda e: None)
    assert stopped["steps"] == 6 and stopped["resumed_from"] is None  # checkpoints at updates 4 and 6
    (tmp_path / "sft" / "checkpoints" / "checkpoint-8").mkdir()  # a save torn by a kill: no state written yet
    events = []
    resumed = train(sft_params(tiny_llama_dir, tmp_path, training=dict(max_steps=10, save_steps=4)), events.append)
    assert resumed["resumed_from"].endswith("checkpoint-6")
    assert [e["step"] for e in events if e["type"] == "progress"] == [7, 8, 9, 10]
    assert resumed["steps"] == 10


def test_losses_go_to_tensorboard_and_a_resumed_run_replaces_the_steps_after_its_checkpoint(tiny_llama_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    params = dict(max_steps=6, save_steps=4, logging_steps=1, report_to=["tensorboard"])
    first = train(sft_params(tiny_llama_dir, tmp_path, training=params), lambda e: None)
    # Killed after update 6 was logged but before its checkpoint: the rerun resumes from update 4 and logs 5 and 6 again.
    shutil.rmtree(tmp_path / "sft" / "checkpoints" / "checkpoint-6")
    (tmp_path / "sft" / "adapter").rename(tmp_path / "first-adapter")
    resumed = train(sft_params(tiny_llama_dir, tmp_path, training={**params, "max_steps": 8}), lambda e: None)
    assert resumed["resumed_from"].endswith("checkpoint-4")

    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert {"train/loss", "train/learning_rate"} <= set(events.Tags()["scalars"])
    losses = events.Scalars("train/loss")
    assert [e.step for e in losses] == list(range(1, 9))  # each update once
    first_curve = {p["step"]: p["loss"] for p in first["loss_curve"]}
    resumed_curve = {p["step"]: p["loss"] for p in resumed["loss_curve"]}
    assert [e.value for e in losses] == pytest.approx([first_curve[s] for s in (1, 2, 3, 4)] + [resumed_curve[s] for s in (5, 6, 7, 8)])


def test_an_empty_dataset_is_a_clear_error(tiny_llama_dir, tmp_path):
    params = sft_params(tiny_llama_dir, tmp_path)
    (tmp_path / "train.jsonl").write_text("")
    with pytest.raises(ValueError, match="no example fits"):
        train(params, lambda e: None)


def test_the_worker_loads_an_adapter_under_a_handle_and_refuses_to_swap_it_silently(tiny_llama_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from refine_af import service

    adapter_dir = tmp_path / "adapter"
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), LoraConfig(task_type="CAUSAL_LM", r=4)).save_pretrained(
        adapter_dir
    )
    base = {"ref": str(tiny_llama_dir), "dtype": "float32", "load_in_4bit": False, "device": "cpu"}
    loaded = json.loads(service.call("load_model", json.dumps({**base, "handle": "policy", "adapter": str(adapter_dir)})))
    assert loaded["ok"] and loaded["value"]["adapter"] == str(adapter_dir)
    swapped = json.loads(service.call("load_model", json.dumps({**base, "handle": "policy", "adapter": None})))
    assert not swapped["ok"] and "already holds" in swapped["error"]["message"]
    missing = json.loads(service.call("load_model", json.dumps({**base, "handle": "other", "adapter": str(tmp_path)})))
    assert not missing["ok"] and missing["error"]["type"] == "ModelNotFoundError"
    service.call("unload_model", json.dumps({"handle": "policy"}))


def test_resume_skips_a_checkpoint_cut_short_by_a_kill(tmp_path):
    """The Trainer writes checkpoint-N in place and trainer_state.json last: a kill mid-save leaves a newer directory
    without a readable state, which must not be taken as the checkpoint to resume from."""
    from refine_af.sft import last_complete_checkpoint

    assert last_complete_checkpoint(tmp_path / "missing") is None
    for step, state in [(2, '{"global_step": 2}'), (10, '{"global_step": 10}'), (12, '{"global_st'), (14, None)]:
        directory = tmp_path / f"checkpoint-{step}"
        directory.mkdir()
        (directory / "adapter_model.safetensors").write_bytes(b"partial")
        if state is not None:
            (directory / "trainer_state.json").write_text(state)
    (tmp_path / "checkpoint-x").mkdir()
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")
    # Under a launcher every rank saves its RNG state, in no order with rank 0's trainer_state.json: a newer checkpoint whose
    # state is whole but whose rank-1 RNG file was cut short by the kill is not resumed from (loading it would fail every rerun).
    for step in (10, 16):
        (tmp_path / f"checkpoint-{step}").mkdir(exist_ok=True)
        for rank in (0, 1):
            torch.save({"python": list(range(100))}, tmp_path / f"checkpoint-{step}" / f"rng_state_{rank}.pth")
    (tmp_path / "checkpoint-16" / "trainer_state.json").write_text('{"global_step": 16}')
    whole = (tmp_path / "checkpoint-16" / "rng_state_1.pth").read_bytes()
    (tmp_path / "checkpoint-16" / "rng_state_1.pth").write_bytes(whole[: len(whole) // 2])
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")
    (tmp_path / "checkpoint-16" / "rng_state_1.pth").write_bytes(whole)
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-16")


def test_killed_after_the_last_checkpoint_it_saves_that_model_without_an_extra_step(tiny_llama_dir, tmp_path):
    import shutil

    finished = train(sft_params(tiny_llama_dir, tmp_path, training=dict(max_steps=4, save_steps=2)), lambda e: None)
    reference = (tmp_path / "sft" / "adapter" / "adapter_model.safetensors").read_bytes()
    shutil.rmtree(tmp_path / "sft" / "adapter")  # the kill came after checkpoint-4 and before the final save
    events = []
    again = train(sft_params(tiny_llama_dir, tmp_path, training=dict(max_steps=4, save_steps=2)), events.append)
    assert again["resumed_from"].endswith("checkpoint-4") and again["steps"] == 4
    assert [e for e in events if e["type"] == "progress"] == []
    assert again["loss_curve"] == finished["loss_curve"] and again["train_loss"] is None
    assert (tmp_path / "sft" / "adapter" / "adapter_model.safetensors").read_bytes() == reference


def test_merged_weights_match_the_base_with_its_adapter(tiny_llama_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    params = sft_params(
        tiny_llama_dir,
        tmp_path,
        training=dict(num_train_epochs=2),
        lora=dict(target_modules=["q_proj", "v_proj"]),
        merge_weights=True,
    )
    result = train(params, lambda e: None)
    merged = AutoModelForCausalLM.from_pretrained(result["merged_dir"])
    tuned = load_causal_lm(str(tiny_llama_dir), "float32", False, "cpu", adapter=result["model_dir"])
    batch = tuned.tokenizer(PAIRS[1][0], return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(merged(**batch).logits, tuned.model(**batch).logits, atol=1e-5)
