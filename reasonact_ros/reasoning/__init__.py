"""The language/semantic reasoning core: no rclpy, plain dataclasses from ``scene.py``.

    facts.py        scene → ObjectFact per object (robot frame) → short text
    intent.py       instruction text → Intent (bounded by Limits) or InstructionRefused
    embedding.py    all-MiniLM-L6-v2 sentence embeddings for intent.py (lazy torch import)
    policy.py       Policy protocol and the deterministic RulesPolicy
    validator.py    ActionValidator: allow-list, types, clamp to limits, or reject → fallback
    llm.py          LLMPolicy over any OpenAI-compatible endpoint (stdlib HTTP)
    local_server.py LocalLlamaServer: llama.cpp + the bundled Gemma 3 270M GGUF
    engine.py       ReasoningEngine: the non-blocking ReAct step the node calls
    evaluation.py   the labelled eval set and evaluate()

A node wires it like this::

    grounder = InstructionGrounder(load_places(), limits, embedder=SentenceEmbedder())
    policy = LLMPolicy(endpoint, timeout_s=2.0) if endpoint else None
    engine = ReasoningEngine(limits, policy, grounder=grounder)
    accepted, explanation = engine.set_instruction(text)      # instruction callback
    out = engine.step(scene, now)                             # timer: never blocks
    publish(out.decision, out.explanation, json.dumps(out.trace))
    engine.close()                                            # on shutdown

Import the modules directly; this package imports nothing itself, so the rules
path never loads torch or transformers.
"""
