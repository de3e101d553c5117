"""Training past one process: resources, the rank runtime, the launcher and the memory planner.

- ``resources``: what a run asks for (processes per node, nodes, strategy);
  no torch, so the web tier validates it.
- ``runtime``: one rank's view of torch.distributed (gloo on CPU, NCCL on
  CUDA) as the trainers use it: shard the micro-batch, all-reduce gradients
  and metric sums (or shard the model: fsdp), save on rank 0; ``Updates``
  (backward, optimizer step, checkpoints) for the trainers.
- ``launch``: the GPU worker runs ``accelerate launch`` (torchrun underneath)
  with the strategy's config file (``accelerate/*.yaml``) in a child process
  group, reads rank 0's events back, forwards a cancel as SIGTERM, and fails
  the attempt when any rank dies.
- ``node``: the same launch on another machine of a multi-node run.
- ``entry``: what each rank runs (no Django: inputs come as files).
- ``sharding``: fsdp (torch FSDP2) on the trainers' models; gathered checkpoints.
- ``deepspeed_engine``: deepspeed-zero2/3, a DeepSpeed engine stepping the
  trainers' model and AdamW (loaded only by those runs; not a runtime requirement).
- ``memory``: the per-GPU memory estimate that refuses a run before it allocates.
"""
