"""AWS target: faults through the control planes AWS offers for exactly this.

- region_outage: invert the region's Route 53 health check (`update_health_check(
  Inverted=True)`), so Route 53 treats the healthy endpoint as failed and DNS fails
  over; revert restores the saved `Inverted` value. Or, when the stack fails over with
  Route 53 ARC, turn the region's routing control Off through the cluster's data-plane
  endpoints (tried in turn) and restore its saved state on revert.
- az_outage: scale the zone's EKS node group to zero; revert restores the saved
  min/max/desired sizes.
- spot_reclaim: an AWS FIS experiment template with the action
  `aws:ec2:send-spot-instance-interruptions` (two minutes' notice) over the matching
  spot instances, started; revert stops the experiment and deletes the template.
- probes: Route 53 health check status, EKS node group size, CloudWatch metrics.

Every client is created from a private `boto3.session.Session` with an explicit
`region_name` (Route 53's control plane is global and served from us-east-1), never
the default session and never a fallback to AWS_REGION. Resources tagged
`meridian.dev/protected=true` are refused before any change. With `dry_run=True`
no client is created: every call is printed and answered with a placeholder.
"""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from chaos import safety
from chaos.model import Action, AllowList, Experiment, Probe
from chaos.targets.base import Measurements
from regions.topology import Topology

ROUTE53_REGION = "us-east-1"  # Route 53 is global; its API endpoint lives in us-east-1
SPOT_ACTION = "aws:ec2:send-spot-instance-interruptions"
# Route 53 Developer Guide, "How Amazon Route 53 determines whether a health check is healthy":
# an endpoint is healthy when more than 18 % of the health checkers report it healthy.
HEALTHY_CHECKER_SHARE = 0.18
# AWS FIS actions reference, aws:ec2:send-spot-instance-interruptions: the interruption notice
# is sent `durationBeforeInterruption` ahead; EC2 gives spot instances two minutes' notice.
SPOT_NOTICE = "PT2M"
# Route 53 ARC endpoints and quotas: the recovery control configuration API is served in
# US West (Oregon) only; routing control states are read and set on the cluster's own
# regional endpoints (ARC Developer Guide, "Getting and updating routing control states
# using the API": try each cluster endpoint in turn until one answers).
ARC_CONFIG_REGION = "us-west-2"


def build(*, allowed: AllowList, endpoint_url: str | None = None, dry_run: bool = False,
          say: Callable[[str], None] = print) -> "AwsTarget":
    return AwsTarget(allowed=allowed, endpoint_url=endpoint_url, dry_run=dry_run, say=say)


class AwsTarget:
    name = "aws"
    realtime = True

    def __init__(self, *, allowed: AllowList, endpoint_url: str | None = None,
                 dry_run: bool = False, say: Callable[[str], None] = print,
                 session: Any = None):
        self.allowed, self.endpoint_url, self.dry_run, self.say = allowed, endpoint_url, dry_run, say
        self._session = session
        self._clients: dict[tuple[str, str], Any] = {}
        self._saved: dict[str, dict] = {}  # action name -> state to restore
        self._t0 = 0.0
        self.account: str | None = None

    # --- clients ---------------------------------------------------------------------------

    def client(self, service: str, region: str, endpoint_url: str | None = None):
        """`endpoint_url`: a fixed endpoint (an ARC cluster's), tried once; others use
        --endpoint-url (or AWS's) with botocore's standard retries."""
        if not region:
            raise ValueError(f"{service}: an explicit region is required")
        if self.dry_run:
            return _DryClient(service, region, self.say, endpoint_url)
        key = (service, region, endpoint_url)
        if key not in self._clients:
            if self._session is None:
                import boto3

                self._session = boto3.session.Session()  # private; the default session is never used
            from botocore.config import Config

            # botocore's "standard" retries: throttling and 5xx only, never a 4xx; mutating
            # calls are idempotent (absolute values, FIS client tokens), so a retry is safe
            self._clients[key] = self._session.client(
                service, region_name=region, endpoint_url=endpoint_url or self.endpoint_url,
                config=Config(retries={"mode": "standard", "max_attempts": 1 if endpoint_url else 5}))
        return self._clients[key]

    # --- lifecycle -------------------------------------------------------------------------

    def prepare(self, experiment: Experiment, topology: Topology | None) -> None:
        region = self.allowed.regions[0]
        self.account = self.client("sts", region).get_caller_identity()["Account"]
        if not self.dry_run:
            safety.check_account(self.account, self.allowed)
        self._preflight(experiment)  # a dry run prints these reads too
        self._t0 = time.monotonic()

    def _preflight(self, experiment: Experiment) -> None:
        """Refuse protected resources before the first fault, not halfway through the drill."""
        for action in experiment.method:
            p = action.params
            if action.kind == "region_outage" and "routing_control_arn" in p:
                self._refuse_protected_routing_control(p["routing_control_arn"])
            elif action.kind == "region_outage":
                tags = self.client("route53", ROUTE53_REGION).list_tags_for_resource(
                    ResourceType="healthcheck", ResourceId=p["health_check_id"])
                if safety.is_protected(_tag_map(tags["ResourceTagSet"]["Tags"])):
                    safety.refuse_protected("Route 53 health check", p["health_check_id"])
            elif action.kind == "az_outage":
                ng = self.client("eks", p["region"]).describe_nodegroup(
                    clusterName=p["cluster"], nodegroupName=p["nodegroup"])["nodegroup"]
                if safety.is_protected(ng.get("tags")):
                    safety.refuse_protected("EKS node group", f"{p['cluster']}/{p['nodegroup']}")

    def advance(self, until_s: float) -> None:
        if self.dry_run:
            return
        while (left := self._t0 + until_s - time.monotonic()) > 0:
            time.sleep(min(left, 0.25))  # short sleeps so SIGINT/SIGTERM are handled promptly

    def close(self) -> None:
        self._clients.clear()

    def measurements(self) -> Measurements:
        return Measurements()  # the runner measures RTO from polled probes

    # --- actions ---------------------------------------------------------------------------

    def inject(self, action: Action) -> Any:
        return getattr(self, f"_inject_{action.kind}")(action)

    def revert(self, action: Action) -> Any:
        saved = self._saved.pop(action.name, None)
        if saved is None:
            return {"reverted": False, "reason": "nothing was changed"}
        return getattr(self, f"_revert_{action.kind}")(action, saved)

    def _inject_region_outage(self, action: Action) -> dict:
        if "routing_control_arn" in action.params:
            return self._routing_control_off(action)
        r53 = self.client("route53", ROUTE53_REGION)
        hc = action.params["health_check_id"]
        tags = r53.list_tags_for_resource(ResourceType="healthcheck", ResourceId=hc)
        if safety.is_protected(_tag_map(tags["ResourceTagSet"]["Tags"])):
            safety.refuse_protected("Route 53 health check", hc)
        was = bool(r53.get_health_check(HealthCheckId=hc)["HealthCheck"]["HealthCheckConfig"].get("Inverted"))
        # saved before the change: if the call applies it and then fails, revert still restores
        self._saved[action.name] = {"health_check_id": hc, "inverted": was}
        r53.update_health_check(HealthCheckId=hc, Inverted=not was)
        return {"health_check_id": hc, "inverted": not was, "was_inverted": was}

    def _revert_region_outage(self, action: Action, saved: dict) -> dict:
        if "routing_control_arn" in saved:
            self._cluster_call(action, "update_routing_control_state",
                               RoutingControlArn=saved["routing_control_arn"],
                               RoutingControlState=saved["state"])
            return {"routing_control_arn": saved["routing_control_arn"], "state": saved["state"]}
        r53 = self.client("route53", ROUTE53_REGION)
        r53.update_health_check(HealthCheckId=saved["health_check_id"], Inverted=saved["inverted"])
        return {"health_check_id": saved["health_check_id"], "inverted": saved["inverted"]}

    def _routing_control_off(self, action: Action) -> dict:
        arn = action.params["routing_control_arn"]
        self._refuse_protected_routing_control(arn)
        was = self._cluster_call(action, "get_routing_control_state",
                                 RoutingControlArn=arn)["RoutingControlState"]
        self._saved[action.name] = {"routing_control_arn": arn, "state": was}  # before the change
        # no SafetyRulesToOverride, ever: an ARC safety rule that forbids this wins, and the
        # drill fails with its error instead of forcing the cell off
        self._cluster_call(action, "update_routing_control_state", RoutingControlArn=arn,
                           RoutingControlState="Off")
        return {"routing_control_arn": arn, "state": "Off", "was": was}

    def _refuse_protected_routing_control(self, arn: str) -> None:
        """Routing controls carry no tags of their own: their control panel's tag protects them."""
        cfg = self.client("route53-recovery-control-config", ARC_CONFIG_REGION)
        panel = cfg.describe_routing_control(RoutingControlArn=arn)["RoutingControl"]["ControlPanelArn"]
        if safety.is_protected(cfg.list_tags_for_resource(ResourceArn=panel).get("Tags")):
            safety.refuse_protected("ARC routing control (its control panel)", arn)

    def _cluster_call(self, action: Action, operation: str, **kwargs) -> dict:
        """One ARC data-plane call, on each cluster endpoint in turn until one answers. A
        refusal (4xx: access, validation, a safety rule's conflict) is final, not retried."""
        from botocore.exceptions import BotoCoreError, ClientError

        errors = []
        for ep in action.params["cluster_endpoints"]:
            client = self.client("route53-recovery-cluster", ep["region"], endpoint_url=ep["url"])
            try:
                return getattr(client, operation)(**kwargs)
            except ClientError as err:
                if err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500) < 500:
                    raise
                errors.append(f"{ep['url']}: {err}")
            except BotoCoreError as err:  # connection refused, timeouts: the next endpoint
                errors.append(f"{ep['url']}: {err}")
        raise RuntimeError(f"no ARC cluster endpoint answered {operation}: " + "; ".join(errors))

    def _inject_az_outage(self, action: Action) -> dict:
        p = action.params
        eks = self.client("eks", p["region"])
        ng = eks.describe_nodegroup(clusterName=p["cluster"], nodegroupName=p["nodegroup"])["nodegroup"]
        if safety.is_protected(ng.get("tags")):
            safety.refuse_protected("EKS node group", f"{p['cluster']}/{p['nodegroup']}")
        scaling = dict(ng["scalingConfig"])
        self._saved[action.name] = {"scaling": scaling}  # before the change (see region_outage)
        eks.update_nodegroup_config(
            clusterName=p["cluster"], nodegroupName=p["nodegroup"],
            # EKS requires maxSize >= 1; zero desired and min nodes takes the capacity away
            scalingConfig={"minSize": 0, "maxSize": _at_least_one(scaling.get("maxSize")),
                           "desiredSize": 0})
        return {"nodegroup": f"{p['cluster']}/{p['nodegroup']}", "desiredSize": 0, "was": scaling}

    def _revert_az_outage(self, action: Action, saved: dict) -> dict:
        p = action.params
        self.client("eks", p["region"]).update_nodegroup_config(
            clusterName=p["cluster"], nodegroupName=p["nodegroup"], scalingConfig=saved["scaling"])
        return {"nodegroup": f"{p['cluster']}/{p['nodegroup']}", "restored": saved["scaling"]}

    def _inject_spot_reclaim(self, action: Action) -> dict:
        p = action.params
        region = p["region"]
        arns = self._spot_instances(region, p["instance_tags"])
        fis = self.client("fis", region)
        percent = round(100 * p.get("fraction", 1.0))
        template = fis.create_experiment_template(
            clientToken=str(uuid.uuid4()),
            description=f"meridian drill {action.name}: reclaim {percent}% of spot capacity",
            roleArn=p["role_arn"],
            stopConditions=[{"source": "none"}],  # the drill's own stop conditions govern it
            targets={"spot": {"resourceType": "aws:ec2:spot-instance", "resourceArns": arns,
                              "selectionMode": f"PERCENT({percent})"}},
            actions={"reclaim": {"actionId": SPOT_ACTION, "targets": {"SpotInstances": "spot"},
                                 "parameters": {"durationBeforeInterruption": SPOT_NOTICE}}},
            tags={"meridian.dev/drill": action.name},
        )["experimentTemplate"]
        # each step is saved as it is made, so a failed start still deletes the template
        saved = self._saved[action.name] = {"template_id": template["id"], "experiment_id": None}
        experiment = fis.start_experiment(clientToken=str(uuid.uuid4()),
                                          experimentTemplateId=template["id"])["experiment"]
        saved["experiment_id"] = experiment["id"]
        return {"template_id": template["id"], "experiment_id": experiment["id"], "instances": len(arns)}

    def _revert_spot_reclaim(self, action: Action, saved: dict) -> dict:
        fis = self.client("fis", action.params["region"])
        stopped = False
        if saved["experiment_id"] is not None:  # None: the start failed, only the template exists
            status = fis.get_experiment(id=saved["experiment_id"])["experiment"]["state"]["status"]
            if status not in ("completed", "stopped", "failed", "cancelled"):
                fis.stop_experiment(id=saved["experiment_id"])
                stopped = True
        fis.delete_experiment_template(id=saved["template_id"])
        return {"experiment_id": saved["experiment_id"], "stopped": stopped, "template_deleted": True}

    def _spot_instances(self, region: str, tags: dict) -> list[str]:
        """ARNs of running, unprotected spot instances carrying `tags`: spot instance
        requests give the spot instances, describe_instances their tags and state."""
        ec2 = self.client("ec2", region)
        requests = ec2.describe_spot_instance_requests(
            Filters=[{"Name": "state", "Values": ["active"]}])["SpotInstanceRequests"]
        ids = [r["InstanceId"] for r in requests if r.get("InstanceId")]
        if not ids:
            raise RuntimeError(f"no active spot instance request in {region}")
        filters = [{"Name": "instance-state-name", "Values": ["running"]}]
        filters += [{"Name": f"tag:{k}", "Values": [str(v)]} for k, v in tags.items()]
        arns, protected = [], 0
        for res in ec2.describe_instances(InstanceIds=ids, Filters=filters)["Reservations"]:
            for inst in res["Instances"]:
                if safety.is_protected(_tag_map(inst.get("Tags", []))):
                    protected += 1  # never part of the experiment's targets
                    continue
                arns.append(f"arn:aws:ec2:{region}:{self.account}:instance/{inst['InstanceId']}")
        if not arns:
            raise RuntimeError(f"no unprotected running spot instance in {region} matches {tags} "
                               f"({protected} protected)")
        return arns

    # --- probes ----------------------------------------------------------------------------

    def probe(self, probe: Probe) -> float | None:
        return getattr(self, f"_probe_{probe.kind}")(probe)

    def _probe_health_check_status(self, probe: Probe) -> float | None:
        """1.0 when Route 53 considers the check healthy: more than 18 % of its checkers
        report success, flipped when the check is inverted."""
        r53 = self.client("route53", ROUTE53_REGION)
        hc = probe.params["health_check_id"]
        inverted = bool(r53.get_health_check(HealthCheckId=hc)["HealthCheck"]["HealthCheckConfig"].get("Inverted"))
        obs = r53.get_health_check_status(HealthCheckId=hc)["HealthCheckObservations"]
        if not obs:
            return None
        ok = sum(str(o["StatusReport"]["Status"]).startswith("Success") for o in obs) / len(obs)
        return float((ok > HEALTHY_CHECKER_SHARE) != inverted)

    def _probe_replicas(self, probe: Probe) -> float | None:
        p = probe.params
        ng = self.client("eks", p["region"]).describe_nodegroup(
            clusterName=p["cluster"], nodegroupName=p["nodegroup"])["nodegroup"]
        return float(ng["scalingConfig"]["desiredSize"])

    def _probe_error_rate(self, probe: Probe) -> float | None:
        p = probe.params
        sums = self._metric_sums(p["region"], p["namespace"], [p["errors_metric"], p["requests_metric"]],
                                 p.get("dimensions") or {}, p.get("window_seconds", 300), "Sum")
        errors, requests = sums
        if requests is None or requests <= 0:
            return None  # no traffic, no data: never read as "no errors"
        return (errors or 0.0) / requests

    def _probe_slo_attainment(self, probe: Probe) -> float | None:
        p = probe.params
        (value,) = self._metric_sums(p["region"], "Meridian", ["SLOAttainment"],
                                     {"Jurisdiction": p["jurisdiction"]}, p.get("window_seconds", 300),
                                     "Average")
        return value

    def _metric_sums(self, region: str, namespace: str, metrics: list[str], dimensions: dict,
                     window: float, stat: str) -> list[float | None]:
        cw = self.client("cloudwatch", region)
        # Whole minutes: CloudWatch aligns 60 s periods to the minute; end at the next boundary
        # so the current, still-filling minute counts.
        end = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
        queries = [{"Id": f"m{i}", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": m,
                       "Dimensions": [{"Name": k, "Value": str(v)} for k, v in dimensions.items()]},
            "Period": 60, "Stat": stat}} for i, m in enumerate(metrics)]
        resp = cw.get_metric_data(MetricDataQueries=queries, StartTime=end - timedelta(seconds=60 * max(1, round(window / 60))),
                                  EndTime=end)
        by_id = {r["Id"]: r.get("Values") or [] for r in resp["MetricDataResults"]}
        out = []
        for i in range(len(metrics)):
            values = by_id.get(f"m{i}", [])
            if not values:
                out.append(None)
            else:
                out.append(sum(values) if stat == "Sum" else sum(values) / len(values))
        return out


def _tag_map(tags: list[dict]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def _at_least_one(value: Any) -> Any:
    """EKS requires maxSize >= 1; a dry run's placeholder text is shown as it is."""
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return value


# --- dry run ------------------------------------------------------------------------------

_PLACEHOLDERS: dict[str, dict] = {
    "get_caller_identity": {"Account": "<account of your credentials>"},
    "list_tags_for_resource": {"ResourceTagSet": {"Tags": []}},
    "get_health_check": {"HealthCheck": {"HealthCheckConfig": {"Inverted": False}}},
    "get_health_check_status": {"HealthCheckObservations": []},
    "describe_nodegroup": {"nodegroup": {"tags": {}, "scalingConfig": {
        "minSize": "<current min>", "maxSize": "<current max>", "desiredSize": "<current desired>"}}},
    "describe_spot_instance_requests": {"SpotInstanceRequests": [{"InstanceId": "<spot instance>"}]},
    "describe_instances": {"Reservations": [{"Instances": [{"InstanceId": "<matching spot instances>"}]}]},
    "create_experiment_template": {"experimentTemplate": {"id": "<template id>"}},
    "start_experiment": {"experiment": {"id": "<experiment id>"}},
    "get_experiment": {"experiment": {"state": {"status": "running"}}},
    "get_metric_data": {"MetricDataResults": []},
    "describe_routing_control": {"RoutingControl": {"ControlPanelArn": "<control panel of the routing control>"}},
    "get_routing_control_state": {"RoutingControlState": "<current state>"},
}


class _DryClient:
    """Prints each call with its region and arguments; answers with placeholders."""

    def __init__(self, service: str, region: str, say: Callable[[str], None], endpoint_url: str | None = None):
        self.service, self.region, self.say, self.endpoint_url = service, region, say, endpoint_url

    def __getattr__(self, operation: str):
        def call(**kwargs):
            args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
            where = f"region {self.region}" + (f", endpoint {self.endpoint_url}" if self.endpoint_url else "")
            self.say(f"    aws {self.service} {operation}({args})  [{where}]")
            return _PLACEHOLDERS.get(operation, {})
        return call
