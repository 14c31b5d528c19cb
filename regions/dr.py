"""Disaster-recovery model: the best RTO and RPO each strategy can achieve, and replication lag.

The validator refuses objectives below these floors; the twin and the drills use the same
numbers (`floor`, `replication_model`, `expected_data_loss_s`) as their model of recovery, so a
drill's measured RTO/RPO is compared with what the configuration could ever deliver.

Sources (figures used where they are cited below):
- [R53] Amazon Route 53 Developer Guide, "How Amazon Route 53 determines whether a health check
  is healthy" and the CreateHealthCheck API: request interval 10 s ("fast") or 30 s; failure
  threshold 1-10 consecutive checks, default 3.
- [ELB-TTL] Route 53 alias records to an Elastic Load Balancer answer with the load balancer's
  TTL of 60 s; meridian's own failover/latency records use the same 60 s (`DNS_TTL_S`), so a
  resolver may keep sending users to a dead region for up to one TTL after the flip.
- [DR-WP] AWS whitepaper "Disaster Recovery of Workloads on AWS: Recovery in the Cloud" (2021),
  figure "Disaster recovery strategies": backup & restore RPO/RTO *hours*; pilot light
  *tens of minutes*; warm standby *minutes*; multi-site active/active *real time*.
  We use the lower edge of each tier for the RTO floor, never less than detection + DNS.
- [BACKUP] AWS Backup Developer Guide, backup plans: scheduled backups run at most once an hour
  (the AWS Config rule backup-plan-min-frequency-and-min-retention-check counts frequency in
  whole hours), so a backup-restore recovery point can be up to an hour old. (AWS Backup's
  continuous backups for S3 and RDS allow finer point-in-time restores; meridian's
  backup-restore models scheduled copies to the recovery region, which is what the floor is for.)
- [S3-RTC] Amazon S3 User Guide, "S3 Replication Time Control": replicates most objects "in
  seconds" and 99.99 % of objects within 15 minutes, backed by an SLA.
- [DDB-GT] Amazon DynamoDB Developer Guide, global tables: an item written to one replica is
  usually propagated to the other replicas within one second (asynchronous, last-writer-wins).

Planning assumptions (ours, not AWS figures; drills measure the real values):
- `GPU_CAPACITY_READY_S`: time to add GPU capacity in a region that is already set up — EC2 GPU
  instance launch, EKS node join, pulling a multi-GB inference image and loading weights.
- `S3_TYPICAL_LAG_S`: we read [S3-RTC]'s "in seconds" as at most 15 s for the typical object.
"""
from __future__ import annotations

from dataclasses import dataclass

# ---- detection and DNS (active-active and every failover start with these)
HEALTH_CHECK_INTERVAL_S = 10.0  # [R53] fast interval
HEALTH_CHECK_FAILURE_THRESHOLD = 3  # [R53] default
DNS_TTL_S = 60.0  # [ELB-TTL]; infra should set this TTL on failover/latency records
DETECTION_S = HEALTH_CHECK_INTERVAL_S * HEALTH_CHECK_FAILURE_THRESHOLD  # 30 s
REROUTE_S = DETECTION_S + DNS_TTL_S  # 90 s: region marked unhealthy + resolvers' caches expire

# ---- capacity (planning assumption, see module docstring)
GPU_CAPACITY_READY_S = 240.0

# ---- replication
BACKUP_INTERVAL_S = 3600.0  # [BACKUP] most frequent scheduled backup
S3_TYPICAL_LAG_S = 15.0  # [S3-RTC] "most objects in seconds" (our reading, see docstring)
S3_RTC_BOUND_S = 900.0  # [S3-RTC] 99.99 % of objects within 15 min (SLA)
GLOBAL_TABLES_TYPICAL_LAG_S = 1.0  # [DDB-GT] "usually within one second"


@dataclass(frozen=True)
class ReplicationModel:
    """How a strategy keeps the recovery region's data current.

    `typical_s` is the lag most writes see; `bound_s` the lag nearly all writes stay under
    (an SLA bound where AWS publishes one). `periodic` means point-in-time backups every
    `bound_s` seconds instead of a continuous stream.
    """

    mechanism: str
    typical_s: float
    bound_s: float
    periodic: bool
    source: str


@dataclass(frozen=True)
class Floor:
    """The lowest RTO and RPO a strategy can deliver, with where each number comes from."""

    strategy: str
    rto_seconds: float
    rpo_seconds: float
    rto_source: str
    rpo_source: str


REPLICATION: dict[str, ReplicationModel] = {
    "backup-restore": ReplicationModel(
        "AWS Backup scheduled backups, copied to the recovery region", BACKUP_INTERVAL_S,
        BACKUP_INTERVAL_S, True, "[BACKUP] backups run at most hourly"),
    "pilot-light": ReplicationModel(
        "S3 cross-region replication with Replication Time Control", S3_TYPICAL_LAG_S,
        S3_RTC_BOUND_S, False, "[S3-RTC] most objects in seconds, 99.99% within 15 min"),
    "warm-standby": ReplicationModel(
        "S3 cross-region replication with Replication Time Control", S3_TYPICAL_LAG_S,
        S3_RTC_BOUND_S, False, "[S3-RTC] most objects in seconds, 99.99% within 15 min"),
    "active-active": ReplicationModel(
        "multi-writer asynchronous replication (DynamoDB global tables)",
        GLOBAL_TABLES_TYPICAL_LAG_S, S3_RTC_BOUND_S, False,
        "[DDB-GT] usually within a second; objects in S3 keep the [S3-RTC] bound"),
}

FLOORS: dict[str, Floor] = {
    "active-active": Floor(
        "active-active", REROUTE_S, GLOBAL_TABLES_TYPICAL_LAG_S,
        "Route 53 health checks 10 s x failure threshold 3 + 60 s DNS TTL [R53, ELB-TTL]",
        "asynchronous multi-region replication, usually within 1 s [DDB-GT]"),
    "warm-standby": Floor(
        "warm-standby", REROUTE_S + GPU_CAPACITY_READY_S, S3_TYPICAL_LAG_S,
        "90 s detection + DNS, then ~240 s to scale the standby's GPU capacity to full load "
        "(AWS DR whitepaper tier: minutes)",
        "S3 replication with RTC, most objects in seconds (taken as 15 s) [S3-RTC]"),
    "pilot-light": Floor(
        "pilot-light", 600.0, S3_TYPICAL_LAG_S,
        "compute is switched on only after the event; AWS DR whitepaper tier: tens of minutes "
        "(lower edge, 10 min)",
        "S3 replication with RTC, most objects in seconds (taken as 15 s) [S3-RTC]"),
    "backup-restore": Floor(
        "backup-restore", 3600.0, BACKUP_INTERVAL_S,
        "infrastructure is provisioned and data restored after the event; AWS DR whitepaper "
        "tier: hours (lower edge, 1 h)",
        "AWS Backup schedules run at most hourly [BACKUP]"),
}


def floor(strategy: str) -> Floor:
    """The RTO/RPO floor for `strategy` (KeyError for an unknown one)."""
    return FLOORS[strategy]


def replication_model(strategy: str) -> ReplicationModel:
    """How data reaches the recovery region under `strategy`; the twin's RPO model."""
    return REPLICATION[strategy]


def expected_data_loss_s(strategy: str, *, since_last_backup_s: float | None = None,
                         tail: bool = False) -> float:
    """Seconds of writes lost if the serving region dies now: the RPO a drill should observe.

    Continuous replication loses what is still in flight: the typical lag, or the bound
    with `tail=True` (an S3 RTC SLA breach is the 0.01 % case). Periodic backups lose
    everything since the last backup: `since_last_backup_s` when the caller knows it (the
    twin does), else the mean over a uniformly random failure time (half an interval),
    or the full interval with `tail=True`.
    """
    model = replication_model(strategy)
    if model.periodic:
        if since_last_backup_s is not None:
            return max(0.0, min(float(since_last_backup_s), model.bound_s))
        return model.bound_s if tail else model.bound_s / 2
    return model.bound_s if tail else model.typical_s


def guaranteed(strategy: str, rpo_seconds: float) -> bool:
    """True when the published bound (not only the typical lag) meets `rpo_seconds`."""
    return replication_model(strategy).bound_s <= rpo_seconds
