"""Stage pipelines: stages with probabilities and gates, the rules of moving between them, won and lost.

Pure: definitions and decisions only. Moves run in `lowcode_platform.records.stages`, in the record's
transaction.
"""

from lowcode_platform.pipelines.definition import LOST, Pipeline, Stage, TenantPipelines, compile_pipelines

__all__ = ["LOST", "Pipeline", "Stage", "TenantPipelines", "compile_pipelines"]
