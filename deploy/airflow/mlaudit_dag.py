"""Airflow DAG: the shards as dynamically mapped tasks, then the merge (Airflow >= 2.4).

Copy to your dags folder; set MLAUDIT_CONFIG, and PARTS/REPORTS to storage every worker shares.
"""

from __future__ import annotations

import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator

SHARDS = 4
CONFIG = "/opt/mlaudit/mlaudit.yaml"
PARTS = "/shared/mlaudit/parts/{{ ds }}"
REPORTS = "/shared/mlaudit/reports/{{ ds }}"
SCAN = "mlaudit scan -c {config} --shard {shard}/{shards} -o {parts}"
MERGE = "mlaudit merge {parts} -c {config} -o {reports}"

with DAG(
    dag_id="mlaudit",
    schedule="0 6 1 1,4,7,10 *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["mlaudit"],
) as dag:
    shards = BashOperator.partial(task_id="shard", retries=2).expand(
        bash_command=[SCAN.format(config=CONFIG, shard=k, shards=SHARDS, parts=PARTS) for k in range(SHARDS)],
    )
    merge = BashOperator(task_id="merge", bash_command=MERGE.format(parts=PARTS, config=CONFIG, reports=REPORTS))
    shards >> merge
