"""The AWS collector: SageMaker, orchestration, catalogue, monitoring and cost, read-only by construction."""
