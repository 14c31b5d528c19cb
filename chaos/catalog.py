"""What a drill may do (actions) and observe (probes), with their parameters.

One table drives `meridian drill list`, experiment validation and the targets'
capability checks, so a new action is declared once. Parameter types are the
Python types YAML produces; `required` names the targets that need the parameter.
"""
from __future__ import annotations

from dataclasses import dataclass, field

TARGETS: tuple[str, ...] = ("sim", "aws", "kube")


@dataclass(frozen=True)
class Param:
    type: type | tuple[type, ...]
    doc: str
    required: tuple[str, ...] = ()  # targets for which the parameter must be given
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    only: tuple[str, ...] = ()  # targets the parameter applies to (empty: every target)

    def range_problem(self, value: float) -> str | None:
        """Why a number is outside this parameter's bounds; None when within them."""
        if self.minimum is not None and value < self.minimum:
            return f"must be at least {self.minimum:g}, got {value:g}"
        if self.maximum is not None and value > self.maximum:
            return f"must be at most {self.maximum:g}, got {value:g}"
        return None


@dataclass(frozen=True)
class Kind:
    """An action or a probe kind: its name, one-line description and parameters."""

    name: str
    description: str
    params: dict[str, Param] = field(default_factory=dict)


NUM = (int, float)

ACTIONS: dict[str, Kind] = {k.name: k for k in [
    Kind("region_outage", "take a whole region out of service (sim: region down; aws: Route 53 "
         "health check inverted, or an ARC routing control turned Off; kube: the Deployment scaled "
         "to zero)", {
             "region": Param(str, "AWS region code", required=("sim", "aws")),
             "health_check_id": Param(str, "aws: Route 53 health check of the region's endpoint "
                                      "(or routing_control_arn)", only=("aws",)),
             "routing_control_arn": Param(str, "aws: Route 53 ARC routing control of the region's "
                                          "cell, turned Off (instead of health_check_id)", only=("aws",)),
             "cluster_endpoints": Param(list, "aws: the ARC cluster's endpoints, [{url, region}], tried "
                                        "in turn (with routing_control_arn)", only=("aws",)),
             "namespace": Param(str, "kube: namespace of the Deployment", required=("kube",), only=("kube",)),
             "deployment": Param(str, "kube: Deployment serving the region", required=("kube",),
                                 only=("kube",)),
         }),
    Kind("az_outage", "lose one availability zone's capacity (sim: that zone's replicas; aws: the "
         "zone's EKS node group scaled to zero and restored)", {
             "region": Param(str, "AWS region code", required=("sim", "aws")),
             "zone": Param(str, "availability zone, e.g. eu-west-1a (sim: the twin loses one zone's share "
                           "of the region's replicas)", required=("sim",)),
             "cluster": Param(str, "aws: EKS cluster name", required=("aws",), only=("aws",)),
             "nodegroup": Param(str, "aws: node group to scale to zero", required=("aws",), only=("aws",)),
         }),
    Kind("spot_reclaim", "reclaim a fraction of spot capacity with two minutes' notice (aws: an FIS "
         "experiment with aws:ec2:send-spot-instance-interruptions)", {
             "region": Param(str, "AWS region code", required=("sim", "aws")),
             "fraction": Param(NUM, "share of spot replicas reclaimed", minimum=0.0, maximum=1.0),
             "role_arn": Param(str, "aws: IAM role FIS assumes", required=("aws",), only=("aws",)),
             "instance_tags": Param(dict, "aws: tags selecting the spot instances", required=("aws",),
                                    only=("aws",)),
         }),
    Kind("pod_kill", "delete pods matching a label selector (kube), or kill serving replicas (sim)", {
             "region": Param(str, "sim: AWS region code", required=("sim",), only=("sim",)),
             "fraction": Param(NUM, "sim: share of the region's replicas killed (default 1)",
                               minimum=0.0, maximum=1.0, only=("sim",)),
             "namespace": Param(str, "kube: namespace", required=("kube",), only=("kube",)),
             "selector": Param(str, "kube: label selector, e.g. app=chat", required=("kube",),
                               only=("kube",)),
             "count": Param(int, "kube: how many pods to delete (default: all matching)", minimum=1,
                            only=("kube",)),
         }),
    Kind("metrics_blackout", "metrics stop arriving in every region: autoscalers see no fresh data "
         "(they must fail static)", {}),
    Kind("latency_injection", "add latency to every request served in a region", {
             "region": Param(str, "AWS region code", required=("sim",)),
             "added_ms": Param(NUM, "milliseconds added to time to first token", required=("sim",),
                               minimum=0.0),
         }),
    Kind("price_spike", "multiply the spot (or on-demand) price in a region", {
             "region": Param(str, "AWS region code", required=("sim",)),
             "factor": Param(NUM, "price multiplier", required=("sim",), minimum=0.0),
             "capacity": Param(str, "which price moves", choices=("spot", "on-demand")),
         }),
    Kind("traffic_surge", "multiply the request rate of a jurisdiction's users", {
             "jurisdiction": Param(str, "jurisdiction code, e.g. eu", required=("sim",)),
             "factor": Param(NUM, "arrival-rate multiplier", required=("sim",), minimum=0.0),
         }),
    Kind("model_rollout", "roll another model or instance type out across a region at once (sim: "
         "every replica takes the new profile's batch slots and speeds, later launches its cold start, "
         "the region its price); it stays: the drill's rollback does not revert it (a revert would be "
         "a second model_rollout back to the old profile)", {
             "region": Param(str, "AWS region code", required=("sim",)),
             "instance_type": Param(str, "the new profile, an instance type of sim/data/gpu_profiles.json "
                                    "(default: the region's current one)"),
             "batch_slots": Param(int, "batch slots per replica of the new model (e.g. fewer: a bigger "
                                  "model leaves less memory for the KV cache)", minimum=1),
             "decode_speed_factor": Param(NUM, "decode speed relative to the profile (0.5: twice as slow)",
                                          minimum=0.01),
             "prefill_speed_factor": Param(NUM, "prefill speed relative to the profile", minimum=0.01),
         }),
]}

_WINDOW = Param(NUM, "trailing window in seconds, whole minutes are scored (default 300)", minimum=60.0)
PROBES: dict[str, Kind] = {k.name: k for k in [
    Kind("slo_attainment", "share of 1-minute windows whose percentile TTFT met the SLO, per "
         "jurisdiction, over a trailing window (aws: the Meridian/SLOAttainment CloudWatch metric)", {
             "jurisdiction": Param(str, "jurisdiction code", required=TARGETS),
             "window_seconds": _WINDOW,
             "region": Param(str, "aws: region whose CloudWatch holds the metric", required=("aws",),
                             only=("aws",)),
         }),
    Kind("residency_violations", "requests whose personal data was served outside its jurisdiction "
         "without a declared transfer, since the drill started", {
             "jurisdiction": Param(str, "only this jurisdiction's users (default: all)"),
         }),
    Kind("rto", "seconds from the first fault until the affected jurisdiction met its SLO again "
         "(none while not yet recovered)", {}),
    Kind("rpo", "data-loss window in seconds implied by the DR strategy's replication model", {}),
    Kind("error_rate", "share of requests that failed or were dropped over a trailing window "
         "(aws: a CloudWatch errors/requests metric pair)", {
             "jurisdiction": Param(str, "sim: only this jurisdiction's users", only=("sim",)),
             "window_seconds": _WINDOW,
             "namespace": Param(str, "aws: CloudWatch namespace", required=("aws",), only=("aws",)),
             "errors_metric": Param(str, "aws: metric counting errors", required=("aws",), only=("aws",)),
             "requests_metric": Param(str, "aws: metric counting requests", required=("aws",),
                                     only=("aws",)),
             "dimensions": Param(dict, "aws: metric dimensions", only=("aws",)),
             "region": Param(str, "aws: region of the metrics", required=("aws",), only=("aws",)),
         }),
    Kind("replicas", "ready serving replicas (sim: region or jurisdiction; kube: a Deployment; "
         "aws: an EKS node group's desired size)", {
             "region": Param(str, "AWS region code", required=("aws",)),
             "jurisdiction": Param(str, "sim: jurisdiction code", only=("sim",)),
             "namespace": Param(str, "kube: namespace", required=("kube",), only=("kube",)),
             "deployment": Param(str, "kube: Deployment", required=("kube",), only=("kube",)),
             "cluster": Param(str, "aws: EKS cluster", required=("aws",), only=("aws",)),
             "nodegroup": Param(str, "aws: node group", required=("aws",), only=("aws",)),
         }),
    Kind("health_check_status", "1 when the region's health check reports healthy, else 0 (aws: "
         "Route 53 health check; sim: the twin's view of the region)", {
             "region": Param(str, "AWS region code", required=("sim", "aws")),
             "health_check_id": Param(str, "aws: Route 53 health check id", required=("aws",),
                                      only=("aws",)),
         }),
]}


def describe() -> str:
    """The text `meridian drill list` prints."""
    lines = ["ACTIONS"]
    lines += [f"  {k.name:<20} {k.description}" for k in ACTIONS.values()]
    lines += ["", "PROBES"]
    lines += [f"  {k.name:<20} {k.description}" for k in PROBES.values()]
    return "\n".join(lines)


@dataclass(frozen=True)
class Support:
    """What one target can do, observe and measure."""

    actions: tuple[str, ...]
    probes: tuple[str, ...]
    measures: tuple[str, ...]  # keys of `expect` it can check


SUPPORT: dict[str, Support] = {
    "sim": Support(tuple(ACTIONS), tuple(PROBES),
                   ("rto_seconds", "rpo_seconds", "residency_violations", "detection_seconds",
                    "min_slo_attainment_during")),
    # Real targets: RTO is the time until the steady-state probes hold again, polled by the runner.
    "aws": Support(("region_outage", "az_outage", "spot_reclaim"),
                   ("health_check_status", "replicas", "error_rate", "slo_attainment"),
                   ("rto_seconds",)),
    "kube": Support(("pod_kill", "region_outage"), ("replicas",), ("rto_seconds",)),
}
