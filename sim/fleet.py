"""The fleet: regions of GPU replicas behind an edge, driven step by step by autoscalers.

Per region: replicas of one GPU profile (cold start drawn per launch, on-demand or spot),
a FIFO queue over their batch slots (`queue.SlotQueue`), per-second billing at the
`regions` catalog price, spot interruptions with two minutes' notice, and one autoscaler
(`controller.law.types.Policy`) that sees only `Observation`s (`observe.py`). The edge
sends each jurisdiction's requests to the closest healthy region that residency allows
(`regions.residency.check`, personal data, use `serve`); with none healthy, to the closest
allowed region that is up; with none up, the requests fail. Nothing is served outside
what residency allows. Replicas removed by scale-down stop billing at once (drain ignored).
A `scenario.ModelSwap` changes a region's profile (slots, speeds, cold start, price) mid-run;
requests are served at the profile of the step that admitted them.

Geography (`FleetConfig.placement`, default "off": none, today's figures unchanged). "closest":
every request's TTFT and E2E as its client sees them include one round trip from its
jurisdiction to the serving region (`regions.network.rtt_s`); routing stays closest first.
"cost": the same RTT, and each jurisdiction's serving regions (`FleetConfig.serving`) are
ordered by `controller.law.placement` at every routing update -- cheapest region whose RTT
plus planned TTFT fits the objective, with hysteresis -- followed by the rest of its
residency-allowed regions (standbys) as before. The twin passes no predicted TTFT: it routes a
jurisdiction's whole load to one region, and a region's prediction at its own load says nothing
about an idle region that would take all of it at once (tried: a saturated region at max
replicas then handed its load to a one-replica region; spilling needs weighted routing).
Residency filters the candidates in every mode. The policies' observations stay server-side
(what the serving region's Prometheus sees): the RTT is only in the scores.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from controller.law.placement import place
from controller.law.types import Decision, Limits, Objective, Policy
from regions.catalog import distance_km, load_catalog
from regions.errors import InputError, Problem
from regions.jurisdictions import load_jurisdictions
from regions.residency import DataClass, Use, check
from sim import geo
from sim.observe import ScrapeSample, build_observation
from sim.profiles import DEFAULT_INSTANCE, GpuProfile, get_profile, spot_model
from sim.queue import SlotQueue, admission_times
from sim.scenario import Scenario
from sim.traces.arrivals import Arrivals


@dataclass(frozen=True)
class FleetConfig:
    regions: tuple[str, ...] = ("us-east-1",)
    instance_type: str = DEFAULT_INSTANCE
    step_s: float = 1.0
    scrape_s: float = 15.0
    rate_window_s: float = 60.0
    capacity: str = "on-demand"  # or "spot-mix"
    objective: Objective = Objective()
    limits: Limits = Limits()
    initial_replicas: int | dict = 1  # ready at t=0, per region (dict) or everywhere (int)
    transfers: tuple = ()  # regions.residency.Transfer, declared by the topology
    route_order: dict | None = None  # jurisdiction -> preferred regions (else: closest first)
    placement: str = "off"  # "off" | "closest" | "cost": client RTT and cost-aware routing (module doc)
    serving: dict | None = None  # jurisdiction -> regions "cost" placement chooses among (else all allowed)
    scenario: Scenario = Scenario()
    spot_interruptions_per_hour: float | None = None  # None: sim/data/gpu_profiles.json
    seed: int = 0


@dataclass
class Timeline:
    """Per scrape, per region: what happened (for plots)."""

    time_s: list = field(default_factory=list)
    ready: list = field(default_factory=list)
    starting: list = field(default_factory=list)
    desired: list = field(default_factory=list)
    arrival_rps: list = field(default_factory=list)


@dataclass
class RunResult:
    regions: tuple[str, ...]
    ttft_s: np.ndarray  # per arrival row; inf when the request failed or was never served
    e2e_s: np.ndarray
    served_region: np.ndarray  # index into regions, -1 when failed
    cost_usd: float
    gpu_hours: float
    scale_events: int
    max_replicas: int
    residency_violations: float  # requests served where residency forbids
    failed_requests: float
    timelines: dict[str, Timeline]
    decisions: int
    region_cost_usd: dict = field(default_factory=dict)  # per region
    placements: list = field(default_factory=list)  # "cost" placement: (time_s, jurisdiction, reason) per change


class _Region:
    """Mutable state of one region during a run."""

    def __init__(self, code, idx, profile, cfg: FleetConfig, policy: Policy, max_service_s):
        catalog = load_catalog()
        if code not in catalog.regions:
            raise InputError(f"unknown region {code}", [Problem("regions", f"{code} is not in the catalog",
                                                                fix="see `meridian regions`")])
        region = catalog.regions[code]
        offer = region.offer(cfg.instance_type)
        if offer is None:
            raise InputError(f"{cfg.instance_type} not offered in {code}", [Problem(
                "--instance-type", f"{code} does not offer {cfg.instance_type}",
                fix="choose an instance type the region offers (`meridian regions --json`)")])
        self.code, self.idx, self.region = code, idx, region
        self.price_od, self.price_spot = offer.on_demand_usd_per_hour, offer.spot_usd_per_hour
        self.profile = profile
        self.profiles = [(0, profile)]  # (first step, profile) per model swap, in time order
        self.revision = profile.revision  # read once per swap, not once per observation
        self.mult_od = self.mult_spot = 1.0
        self.queue = SlotQueue(profile, cfg.step_s, max_service_s)
        self.policy = policy
        self.ready_od = self.ready_spot = self.start_od = self.start_spot = 0
        self.starting: dict[int, list] = {}  # ready step -> [on-demand count, spot count]
        self.next_ready = math.inf
        # die steps of spot replicas under interruption notice. A noticed replica is drained
        # at once, as a node termination handler (or Karpenter) cordons and drains the node on
        # the notice: it admits no new request and is not ready (its pod is terminating), it
        # finishes what it holds, and it bills until the instance is reclaimed.
        self.doomed: list[int] = []
        self.desired_od = self.desired_spot = 0
        self.down = False
        self.extra_latency = 0.0
        self.arr: list[float] = []
        self.psum: list[float] = []
        self.osum: list[float] = []
        self.pq: list = []  # per step: the prompt-length sketch of its arrivals (see prompt_sketch)
        self.lat: list[float] = []
        self.last_scrape: ScrapeSample | None = None
        self.cost = self.replica_s = 0.0
        self.scale_events = self.max_replicas = 0
        self.timeline = Timeline()
        self.decision_total = 0
        self.scrape_every = self.decide_every = 1  # in steps, set when the run starts
        self.latency_fields = True
        self.replicas_dt = self.cost_per_step = 0.0
        self._c = self._p = self._o = 0.0  # this step's cohort: count, token sums
        self._q: list = []  # this step's (prompt sketch, arrivals) per jurisdiction routed here

    @property
    def total(self) -> int:
        return self.ready_od + self.ready_spot + self.start_od + self.start_spot

    @property
    def serving_spot(self) -> int:
        """Ready spot replicas that take requests: those under notice are draining."""
        return self.ready_spot - len(self.doomed)

    @property
    def serving(self) -> int:
        return self.ready_od + self.serving_spot


class EarlyStop(Exception):
    """A checkpoint decided the run's outcome before its end."""

    def __init__(self, steps_done: int, steps: int):
        super().__init__(f"stopped after {steps_done} of {steps} steps")
        self.fraction = steps_done / steps


class Fleet:
    def __init__(self, arrivals: Arrivals, cfg: FleetConfig, make_policy: Callable[[str], Policy]):
        self.a, self.cfg = arrivals, cfg
        self.profile = get_profile(cfg.instance_type)
        self.dt = cfg.step_s
        self.rng = random.Random(cfg.seed)
        self.np_rng = np.random.default_rng(cfg.seed)
        self._z, self._pool_i = np.zeros(0), 0  # standard normals, turned into cold starts per profile
        self._pools: dict[tuple[float, float], np.ndarray] = {}
        spot = spot_model()
        hazard = cfg.spot_interruptions_per_hour if cfg.spot_interruptions_per_hour is not None \
            else spot.interruptions_per_hour
        self.spot_p_step = hazard * self.dt / 3600.0
        self.notice_steps = max(1, round(spot.notice_s / self.dt))
        self.n_steps = int(math.ceil(arrivals.duration_s / self.dt)) + 1
        longest = float(arrivals.prompt_tokens.max(initial=1)), float(arrivals.output_tokens.max(initial=1))
        swaps = self._swaps()
        self.regions = [_Region(code, i, self.profile, cfg, make_policy(code),
                                max(p.service_s(*longest, 1.0) for p in [self.profile, *swaps.get(code, ())]))
                        for i, code in enumerate(cfg.regions)]
        for r in self.regions:
            for p in swaps.get(r.code, ()):
                if r.region.offer(p.instance_type) is None:
                    raise InputError(f"{p.instance_type} not offered in {r.code}", [Problem(
                        "ModelSwap.profile", f"{r.code} does not offer {p.instance_type}",
                        fix="swap to an instance type the region offers (`meridian regions --json`)")])
        if cfg.placement not in geo.MODES:
            raise ValueError(f"FleetConfig.placement must be one of {', '.join(geo.MODES)}, got {cfg.placement!r}")
        self.candidates = self._residency_candidates()
        self.rtt = geo.rtt_table(arrivals.jurisdictions, cfg.regions) if cfg.placement != "off" else None
        self.placed: list[str | None] = [None] * len(self.candidates)  # "cost": each jurisdiction's first region
        self.placement_log: list = []
        self._placed_key, self._placed_orders_cache = None, []
        self._prepare_arrivals()
        self._actions = self._actions_by_step()
        self.blackout = False

    # ---- setup -------------------------------------------------------------------------
    def _residency_candidates(self) -> list[list[int]]:
        """Per jurisdiction: the regions residency lets serve its personal data, closest first."""
        juris = load_jurisdictions()
        out = []
        for code in self.a.jurisdictions:
            j = juris.get(code)
            allowed = [r for r in self.regions
                       if check(DataClass.PERSONAL, code, r.code, Use.SERVE, transfers=self.cfg.transfers,
                                topology_regions=self.cfg.regions)]
            preferred = (self.cfg.route_order or {}).get(code)
            if preferred is not None:
                rank = {c: i for i, c in enumerate(preferred)}
                allowed = [r for r in allowed if r.code in rank]
                allowed.sort(key=lambda r: rank[r.code])
            elif j is not None:
                allowed.sort(key=lambda r: distance_km(j.latitude, j.longitude, r.region.latitude,
                                                       r.region.longitude))
            out.append([r.idx for r in allowed])
        return out

    def _prepare_arrivals(self) -> None:
        """Per jurisdiction and step: arrivals, token sums and the percentile prompt. Cached on
        the trace (every policy of a bench replays the same one) unless a surge reshapes it."""
        a, dt, n = self.a, self.dt, self.n_steps
        surges = [(t0, args) for t0, verb, args in self.cfg.scenario.schedule().actions if verb == "surge"]
        key = ("steps", dt, n)
        if not surges and key in a.cache:
            self.step_of, self.weight, self.per_j = a.cache[key]
            return
        self.step_of = np.minimum((a.time_s / dt).astype(np.int64), n - 1)
        self.weight = a.weight.copy()
        homes = a.homes()
        for t0, (jur, mult, t1) in surges:
            hit = (a.time_s >= t0) & (a.time_s < t1)
            if jur is not None:
                hit &= (homes == a.jurisdictions.index(jur)) if jur in a.jurisdictions else False
            self.weight[hit] *= mult
        self.per_j = []
        for j in range(len(a.jurisdictions)):
            m = homes == j
            st, w = self.step_of[m], self.weight[m]
            cnt = np.bincount(st, weights=w, minlength=n)
            ps = np.bincount(st, weights=w * a.prompt_tokens[m], minlength=n)
            os_ = np.bincount(st, weights=w * a.output_tokens[m], minlength=n)
            self.per_j.append((cnt.tolist(), ps.tolist(), os_.tolist(), prompt_sketch(st, a.prompt_tokens[m], w, n)))
        if not surges:
            a.cache[key] = (self.step_of, self.weight, self.per_j)

    def _swaps(self) -> dict[str, list[GpuProfile]]:
        """Per region, the profiles its model swaps bring (checked before anything runs)."""
        out: dict[str, list] = {}
        for _, verb, args in self.cfg.scenario.schedule().actions:
            if verb == "swap":
                if args[0] not in self.cfg.regions:
                    raise InputError("bad ModelSwap event", [Problem(
                        "region", f"{args[0]} is not one of {', '.join(self.cfg.regions)}", fix="use a fleet region")])
                out.setdefault(args[0], []).append(args[1])
        return out

    def _actions_by_step(self) -> dict[int, list]:
        out: dict[int, list] = {}
        for t, verb, args in self.cfg.scenario.schedule().actions:
            if verb != "surge":
                out.setdefault(min(int(t / self.dt), self.n_steps - 1), []).append((verb, args))
        return out

    # ---- replicas ------------------------------------------------------------------------
    def _launch(self, r: _Region, s: int, spot: bool, n: int) -> None:
        """Start `n` replicas; each draws its own cold start, bucketed by the step it is ready."""
        k = 1 if spot else 0
        if n > 16:  # big launches: bucket with numpy
            readies, counts = np.unique(self._cold_steps(n, r.profile) + s, return_counts=True)
            pairs = zip(readies.tolist(), counts.tolist())
        else:
            pairs = ((s + x, 1) for x in self._cold_steps(n, r.profile).tolist())
        for ready, c in pairs:
            bucket = r.starting.get(ready)
            if bucket is None:
                r.starting[ready] = bucket = [0, 0]
            bucket[k] += c
            if ready < r.next_ready:
                r.next_ready = ready
        if spot:
            r.start_spot += n
        else:
            r.start_od += n

    def _cold_steps(self, n: int, p: GpuProfile) -> np.ndarray:
        """Cold starts in steps (>= 1) of profile `p`, from a pre-drawn pool of lognormal
        durations (one pool of normals, scaled once per profile: every profile draws the same
        sequence, so a model swap does not shift later draws)."""
        if self._pool_i + n > len(self._z):
            self._z = self.np_rng.standard_normal(max(n, 65536))
            self._pools, self._pool_i = {}, 0
        key = (p.cold_start_median_s, p.cold_start_sigma)
        pool = self._pools.get(key)
        if pool is None:
            cold = p.cold_start_median_s * np.exp(p.cold_start_sigma * self._z)
            self._pools[key] = pool = np.maximum(1, np.rint(cold / self.dt)).astype(np.int64)
        out = pool[self._pool_i:self._pool_i + n]
        self._pool_i += n
        return out

    def _remove(self, r: _Region, spot: bool, n: int) -> None:
        """Scale down: cancel the latest-ready starting replicas first, then ready ones."""
        k = 1 if spot else 0
        for ready in sorted(r.starting, reverse=True):
            if n <= 0:
                break
            bucket = r.starting[ready]
            take = min(n, bucket[k])
            bucket[k] -= take
            n -= take
            if spot:
                r.start_spot -= take
            else:
                r.start_od -= take
            if bucket[0] == bucket[1] == 0:
                del r.starting[ready]
        if spot:
            r.ready_spot -= min(n, r.ready_spot - len(r.doomed))
        else:
            r.ready_od -= min(n, r.ready_od)
        r.next_ready = min(r.starting, default=math.inf)

    def _reconcile(self, r: _Region, s: int) -> None:
        """Like a Deployment controller: bring each capacity type to its desired count."""
        if r.down:
            return
        for spot, want, have in ((False, r.desired_od, r.ready_od + r.start_od),
                                 (True, r.desired_spot, r.ready_spot - len(r.doomed) + r.start_spot)):
            if want > have:
                self._launch(r, s, spot, want - have)
            elif want < have:
                self._remove(r, spot, have - want)
        self._recount(r)

    def _recount(self, r: _Region) -> None:
        """Refresh what a step of this region costs, after any change of replicas or prices."""
        od, spot = r.ready_od + r.start_od, r.ready_spot + r.start_spot
        r.replicas_dt = (od + spot) * self.dt
        r.cost_per_step = (od * r.price_od * r.mult_od + spot * r.price_spot * r.mult_spot) * self.dt / 3600.0
        if od + spot > r.max_replicas:
            r.max_replicas = od + spot

    def _promote(self, r: _Region, s: int) -> None:
        for ready in [x for x in r.starting if x <= s]:
            od, spot = r.starting.pop(ready)
            r.ready_od += od
            r.start_od -= od
            r.ready_spot += spot
            r.start_spot -= spot
        r.next_ready = min(r.starting, default=math.inf)
        self._recount(r)

    def _kill(self, r: _Region, s: int, fraction, spot_only: bool, notice_s: float) -> None:
        if fraction is None:
            fraction = 1.0 / max(1, len(r.region.availability_zones))
        if spot_only:
            n = round(fraction * r.serving_spot)
            self._notice(r, n)
            # keep `doomed` sorted: a shorter notice may end before earlier, longer ones
            r.doomed = sorted(r.doomed + [s + max(1, round(notice_s / self.dt))] * n)
        else:
            r.ready_od -= round(fraction * r.ready_od)
            r.ready_spot -= round(fraction * (r.ready_spot - len(r.doomed)))
            for bucket in r.starting.values():
                for k in (0, 1):
                    lost = round(fraction * bucket[k])
                    bucket[k] -= lost
                    if k:
                        r.start_spot -= lost
                    else:
                        r.start_od -= lost
        self._reconcile(r, s)

    @staticmethod
    def _notice(r: _Region, n: int) -> None:
        """`n` serving spot replicas get the interruption notice: they drain (`_Region.doomed`)."""
        if n > 0 and r.serving > 0:
            r.queue.drain(n / r.serving)

    def _region_down(self, r: _Region) -> None:
        r.down = True
        r.ready_od = r.ready_spot = r.start_od = r.start_spot = 0
        r.starting, r.doomed, r.next_ready = {}, [], math.inf
        self.failed += r.queue.drop_all()
        self._recount(r)

    # ---- routing -------------------------------------------------------------------------
    def _placed_orders(self, s: int) -> list[list[int]]:
        """"cost" placement: per jurisdiction, its serving regions as `controller.law.placement`
        orders them now (prices with any price event, health), then its other
        residency-allowed regions in their usual order."""
        # placement only changes with health and prices (and is stable under its own result)
        key = tuple((r.down, r.mult_od, r.mult_spot) for r in self.regions)
        if key == self._placed_key:
            return self._placed_orders_cache
        cfg, by_code = self.cfg, {r.code: r for r in self.regions}
        out = []
        for j, code in enumerate(self.a.jurisdictions):
            pool = [c for c in ((cfg.serving or {}).get(code) or [self.regions[i].code for i in self.candidates[j]])
                    if c in by_code]
            if not pool or self.rtt is None:
                out.append(self.candidates[j])
                continue
            try:
                cands = geo.candidates(code, pool, {c: self._replica_price(by_code[c]) for c in pool},
                                       transfers=cfg.transfers, topology_regions=cfg.regions,
                                       healthy={c: not by_code[c].down for c in pool})
            except KeyError:  # a jurisdiction without a centroid: no geography, keep the usual order
                out.append(self.candidates[j])
                continue
            placed = place(cands, cfg.objective, current=self.placed[j])
            if placed.first != self.placed[j]:
                self.placement_log.append((s * self.dt, code, placed.order[0].reason if placed.order else "none"))
                self.placed[j] = placed.first
            order = [by_code[c].idx for c in placed.regions]
            out.append(order + [i for i in self.candidates[j] if i not in order])
        self._placed_key, self._placed_orders_cache = key, out
        return out

    def _replica_price(self, r: _Region) -> float:
        """Per replica-hour as the law buys: on-demand, or under spot-mix the limit's spot share
        at the spot price and the rest on demand (price events included)."""
        share = self.cfg.limits.spot_share if self.cfg.capacity == "spot-mix" else 0.0
        return share * r.price_spot * r.mult_spot + (1.0 - share) * r.price_od * r.mult_od

    def _routes(self, s: int = 0) -> list[int]:
        out = []
        orders = self._placed_orders(s) if self.cfg.placement == "cost" else self.candidates
        for cands in orders:
            pick = next((i for i in cands if not self.regions[i].down and self.regions[i].serving > 0), None)
            if pick is None:
                pick = next((i for i in cands if not self.regions[i].down), -1)
            out.append(pick)
        return out

    # ---- the run -------------------------------------------------------------------------
    def _apply(self, r: _Region, s: int, d: Decision) -> None:
        lim = self.cfg.limits
        total = max(lim.min_replicas, min(lim.max_replicas, int(d.replicas)))
        spot = max(0, min(total, int(d.spot))) if self.cfg.capacity == "spot-mix" else 0
        if total != r.desired_od + r.desired_spot:
            r.scale_events += 1
        r.desired_od, r.desired_spot = total - spot, spot
        self._reconcile(r, s)

    def run(self, progress: Callable[[float], None] | None = None,
            checkpoint: Callable[["Fleet", int], bool] | None = None) -> RunResult:
        """Replay the trace. `checkpoint(fleet, steps_done)`, called a few times, may stop the
        run early (raises `EarlyStop`) once its outcome is known."""
        cfg, dt, n = self.cfg, self.dt, self.n_steps
        self.failed = 0.0
        init = cfg.initial_replicas
        for r in self.regions:
            k = init.get(r.code, 0) if isinstance(init, dict) else init
            if hasattr(r.policy, "warm_start"):  # e.g. a static fleet starts at its own size
                k = r.policy.warm_start(k)
            r.ready_od = r.desired_od = k
            if hasattr(r.policy, "prepare"):
                r.policy.prepare(self._future_for(r))
        for r in self.regions:
            r.scrape_every = max(1, round(getattr(r.policy, "scrape_interval_s", cfg.scrape_s) / dt))
            r.decide_every = max(1, round(r.policy.interval_s / dt))
            r.latency_fields = getattr(r.policy, "uses_latency", True)
            self._recount(r)
        window_steps = max(1, round(cfg.rate_window_s / dt))
        plot_steps = max(1, round(cfg.scrape_s / dt))
        routes = self._routes()
        route_changes = self._route_changes = [(0, routes)]
        stops = 5 if checkpoint is not None else 0  # early-stop checks at 20 %, 40 %, 60 %, 80 %
        checkpoints = {n * k // stops - 1 for k in range(1, stops)} if stops else set()
        per_j = self.per_j
        regions = self.regions
        spot_mix = cfg.capacity == "spot-mix"
        pct = cfg.objective.percentile
        rnd = self.rng.random
        actions = self._actions
        report_every = max(1, n // 20)
        cnt = [pj[0] for pj in per_j]
        psm = [pj[1] for pj in per_j]
        osm = [pj[2] for pj in per_j]
        pqs = [pj[3] for pj in per_j]
        jr = list(range(len(per_j)))
        for s in range(n):
            acts = actions.get(s)
            if acts or s % plot_steps == 0:
                if acts:
                    self._handle(acts, s)
                new = self._routes(s)
                if new != routes:
                    routes = new
                    route_changes.append((s, routes))
            # arrivals, merged per region into one cohort for this step
            for r in regions:
                r._c = r._p = r._o = 0.0
                r._q = []
            for j in jr:
                c = cnt[j][s]
                if c:
                    ri = routes[j]
                    if ri < 0:
                        self.failed += c
                        continue
                    r = regions[ri]
                    r._c += c
                    r._p += psm[j][s]
                    r._o += osm[j][s]
                    r._q.append((pqs[j][s], c))
            for r in regions:
                if r.next_ready <= s:
                    self._promote(r, s)
                if r.doomed and r.doomed[0] <= s:
                    while r.doomed and r.doomed[0] <= s:
                        r.doomed.pop(0)
                        r.ready_spot -= 1
                    self._recount(r)
                if spot_mix and r.serving_spot > 0 and rnd() < self.spot_p_step * r.serving_spot:
                    self._notice(r, 1)
                    r.doomed.append(s + self.notice_steps)
                    self._reconcile(r, s)
                q = r.queue
                q.push(s, r._c, r._p, r._o)
                r.arr.append(r._c)
                r.psum.append(r._p)
                r.osum.append(r._o)
                r.pq.append(NO_ARRIVALS if not r._q else r._q[0][0] if len(r._q) == 1 else merge_sketches(r._q))
                r.lat.append(r.extra_latency)
                q.step(s, 0 if r.down else r.serving)
                r.replica_s += r.replicas_dt
                r.cost += r.cost_per_step
                if s % r.scrape_every == 0 and not self.blackout and not r.down:
                    r.last_scrape = ScrapeSample(s, q.busy, q.queued)
                if s % plot_steps == 0:
                    tl = r.timeline
                    tl.time_s.append(s * dt)
                    tl.ready.append(r.serving)
                    tl.starting.append(r.start_od + r.start_spot)
                    tl.desired.append(r.desired_od + r.desired_spot)
                    lo = max(0, s + 1 - plot_steps)
                    tl.arrival_rps.append(sum(r.arr[lo:s + 1]) / ((s + 1 - lo) * dt))
                if s % r.decide_every == 0 and s > 0 and not r.down:
                    obs = build_observation(r, s, r.last_scrape, self.blackout, window_steps, pct,
                                            r.profile, spot_mix, r.latency_fields)
                    self._apply(r, s, r.policy.decide(obs))
                    r.decision_total += 1
            if progress is not None and s % report_every == 0:
                progress(s / n)
            if s in checkpoints and checkpoint(self, s + 1):
                raise EarlyStop(s + 1, n)
        return self._result(self._route_record(route_changes, n))

    def _route_record(self, route_changes, upto: int) -> list[np.ndarray]:
        """Per jurisdiction, the region its step's arrivals went to (-1: none), steps < upto."""
        route_rec = [np.empty(upto, dtype=np.int32) for _ in self.per_j]
        for i, (s0, rt) in enumerate(route_changes):
            s1 = min(upto, route_changes[i + 1][0] if i + 1 < len(route_changes) else upto)
            for j, ri in enumerate(rt):
                route_rec[j][s0:s1] = ri
        return route_rec

    def latencies_so_far(self, upto: int) -> tuple[np.ndarray, np.ndarray]:
        """TTFT and E2E of every row arriving before step `upto`, from the run so far (for
        early stopping). A row not yet admitted gets inf: its wait already exceeds
        `upto * step_s - arrival`, so for rows that old it is a miss whatever comes next."""
        ttft, e2e, _, _ = self._latencies(self._route_record(self._route_changes, upto), upto)
        return ttft, e2e

    def _handle(self, acts, s: int) -> None:
        by_code = {r.code: r for r in self.regions}
        for verb, args in acts:
            if verb == "blackout":
                self.blackout = args[0]
                continue
            r = by_code.get(args[0])
            if r is None:
                raise InputError("scenario names a region outside the fleet", [Problem(
                    "scenario", f"{args[0]} is not one of {', '.join(by_code)}", fix="use a fleet region")])
            if verb == "region_down":
                self._region_down(r)
            elif verb == "region_up":
                r.down = False
                self._reconcile(r, s)
            elif verb == "kill":
                self._kill(r, s, *args[1:])
            elif verb == "latency":
                r.extra_latency = args[1]
            elif verb == "price":
                r.mult_spot = args[1]
                if not args[2]:
                    r.mult_od = args[1]
                self._recount(r)
            elif verb == "swap":
                self._swap(r, s, args[1])

    def _swap(self, r: _Region, s: int, profile: GpuProfile) -> None:
        """`scenario.ModelSwap`: the region serves with `profile` from step `s` on."""
        offer = r.region.offer(profile.instance_type)
        r.price_od, r.price_spot = offer.on_demand_usd_per_hour, offer.spot_usd_per_hour
        r.profile = profile
        r.profiles.append((s, profile))
        r.revision = profile.revision
        r.queue.set_profile(profile)
        self._recount(r)

    def _future_for(self, r: _Region):
        """What the oracle may see: this region's arrivals under normal routing, per step."""
        from sim.policies.oracle import Future

        routes = self._routes()
        cnt = np.zeros(self.n_steps)
        ps = np.zeros(self.n_steps)
        os_ = np.zeros(self.n_steps)
        for j, ri in enumerate(routes):
            if ri == r.idx:
                cnt += self.per_j[j][0]
                ps += self.per_j[j][1]
                os_ += self.per_j[j][2]
        return Future(step_s=self.dt, count=cnt, prompt_sum=ps, output_sum=os_, profile=self.profile)

    def _latencies(self, route_rec, upto: int):
        a, dt = self.a, self.dt
        homes = a.homes()
        n_rows = len(a.time_s)
        row_region = np.full(n_rows, -2, dtype=np.int32)
        for j, rec in enumerate(route_rec):
            m = (homes == j) & (self.step_of < upto)
            row_region[m] = rec[self.step_of[m]]
        ttft = np.full(n_rows, np.inf)
        e2e = np.full(n_rows, np.inf)
        served = np.full(n_rows, -1, dtype=np.int32)
        for r in self.regions:
            rows = np.flatnonzero(row_region == r.idx)
            if rows.size == 0:
                continue
            q = r.queue
            adm_t, adm_s, same = admission_times(self.step_of[rows], self.weight[rows],
                                                 np.asarray(q.admitted[:upto]), np.asarray(q.dropped[:upto]), dt)
            ok = adm_s >= 0
            s_ok = np.where(ok, adm_s, 0)
            occ = np.asarray(q.occupancy[:upto])[s_ok]
            wait = np.where(same, 0.0, np.maximum(0.0, adm_t - a.time_s[rows]))
            prefill, tpot = _served_at(r.profiles, a.prompt_tokens[rows], occ, s_ok)
            first = wait + prefill + np.asarray(r.lat[:upto])[s_ok]
            if self.rtt is not None:  # the client's view: one round trip to the serving region
                first = first + self.rtt[homes[rows], r.idx]
            ttft[rows] = np.where(ok, first, np.inf)
            e2e[rows] = np.where(ok, first + a.output_tokens[rows] * tpot, np.inf)
            served[rows] = np.where(ok, r.idx, -1)
        return ttft, e2e, served, row_region

    def _result(self, route_rec) -> RunResult:
        a = self.a
        homes = a.homes()
        ttft, e2e, served, row_region = self._latencies(route_rec, self.n_steps)
        violations = 0.0
        for r in self.regions:
            rows = served == r.idx
            for j, code in enumerate(a.jurisdictions):
                if not check(DataClass.PERSONAL, code, r.code, Use.SERVE, transfers=self.cfg.transfers,
                             topology_regions=self.cfg.regions):
                    violations += float(self.weight[rows & (homes == j)].sum())
        failed = float(self.weight[served < 0].sum())
        return RunResult(
            regions=tuple(r.code for r in self.regions), ttft_s=ttft, e2e_s=e2e, served_region=served,
            cost_usd=sum(r.cost for r in self.regions), gpu_hours=sum(r.replica_s for r in self.regions) / 3600.0,
            scale_events=sum(r.scale_events for r in self.regions),
            max_replicas=sum(r.max_replicas for r in self.regions), residency_violations=violations,
            failed_requests=failed, timelines={r.code: r.timeline for r in self.regions},
            decisions=sum(r.decision_total for r in self.regions),
            region_cost_usd={r.code: r.cost for r in self.regions}, placements=list(self.placement_log))


def _served_at(profiles: list, prompts: np.ndarray, occ: np.ndarray, steps: np.ndarray):
    """Prefill time and time per output token of each request, at the profile the region
    served with in the step that admitted it (`profiles`: (first step, profile), in order)."""
    prof = profiles[0][1]
    prefill, tpot = prof.prefill_s(prompts, occ), prof.tpot_s(occ)
    for start, prof in profiles[1:]:
        later = steps >= start
        prefill = np.where(later, prof.prefill_s(prompts, occ), prefill)
        tpot = np.where(later, prof.tpot_s(occ), tpot)
    return prefill, tpot


SKETCH_LEVELS = 16  # prompt-length quantiles kept per step for the live TTFT gauge
NO_ARRIVALS = (0.0,) * SKETCH_LEVELS


def prompt_sketch(steps: np.ndarray, prompts: np.ndarray, weights: np.ndarray, n: int) -> list:
    """Per step, its arrivals' prompt lengths at SKETCH_LEVELS equally spaced mid-quantiles
    (weighted; a tuple of zeros when none arrived). The gauge pools a window's sketches into
    one distribution and reads the percentile there -- what `histogram_quantile` over the
    window's buckets does. (A single percentile prompt per step, pooled by its own percentile,
    read half the true p95 TTFT on cohort traces: a step's 8 stratified rows put the 95th
    percentile inside a stratum the old per-step index never reached.)"""
    k = SKETCH_LEVELS
    out = np.zeros((n, k))
    totals = np.bincount(steps, weights=weights, minlength=n)
    # (a cohort's Gamma count can be ~1e-30: below a thousandth of a request nothing arrived)
    totals[totals < 1e-3] = 0.0
    has = (weights > 0) & (totals[steps] > 0)
    steps, prompts, weights = steps[has], prompts[has], weights[has]
    if steps.size:
        order = np.lexsort((prompts, steps))
        st, pr, w = steps[order], prompts[order], weights[order]
        before = np.cumsum(totals) - totals
        # position of each row in its own step's weight CDF, offset by the step index: one
        # increasing key over the whole run, so every step's levels are one searchsorted away
        key = st + np.clip((np.cumsum(w) - before[st]) / totals[st], 0.0, 1.0)
        present = np.flatnonzero(totals > 0)
        levels = (np.arange(k) + 0.5) / k
        idx = np.searchsorted(key, present[:, None] + levels[None, :] - 1e-12)
        out[present] = pr[np.minimum(idx, len(pr) - 1)]
    return [tuple(row) if total > 0 else NO_ARRIVALS for total, row in zip(totals.tolist(), out.tolist())]


def merge_sketches(parts: list) -> tuple:
    """One step's sketch from several jurisdictions' (sketch, arrivals) routed to one region."""
    k = SKETCH_LEVELS
    points = sorted((v, c / k) for sketch, c in parts for v in sketch)
    total = sum(w for _, w in points)
    out, acc, i = [], 0.0, 0
    for level in range(k):
        need = (level + 0.5) / k * total
        while i < len(points) - 1 and acc + points[i][1] < need:
            acc += points[i][1]
            i += 1
        out.append(points[i][0])
    return tuple(out)


def simulate(arrivals: Arrivals, cfg: FleetConfig, make_policy: Callable[[str], Policy],
             progress: Callable[[float], None] | None = None,
             checkpoint: Callable[[Fleet, int], bool] | None = None) -> RunResult:
    return Fleet(arrivals, cfg, make_policy).run(progress, checkpoint)
