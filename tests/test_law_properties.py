"""Property tests of the meridian law (hypothesis)."""
from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.law.meridian import MeridianPolicy
from controller.law.safety import hourly_cost
from controller.law.types import Decision, Limits, Objective, Observation

OBJ = Objective(95.0, 1.0)
PROPS = settings(max_examples=40, deadline=None)


def healthy(t: float, ready: int, rate: float, service: float = 8.0, slots: int = 32, ttft: float = 0.5,
            starting: int = 0, ready_spot: int = 0, price_spot: float | None = None) -> Observation:
    busy = rate * service
    return Observation(
        time_s=t, ready_replicas=ready, starting_replicas=starting, arrival_rate_rps=rate,
        ttft_quantile_s=ttft if busy <= ready * slots else ttft + 3.0, e2e_quantile_s=None,
        in_flight=min(busy, ready * slots), queued=max(0.0, busy - ready * slots),
        price_on_demand_per_hour=4.0, price_spot_per_hour=price_spot, ready_spot=ready_spot,
    )


def feed(policy: MeridianPolicy, observations) -> list[Decision]:
    return [policy.decide(o) for o in observations]


# Arbitrary observations, including missing, NaN, negative and stale fields.
maybe = lambda s: st.one_of(st.none(), st.just(math.nan), s)  # noqa: E731
observations = st.builds(
    Observation,
    time_s=st.just(0.0),
    ready_replicas=st.integers(0, 300),
    starting_replicas=st.integers(0, 50),
    arrival_rate_rps=maybe(st.floats(0, 5000)),
    ttft_quantile_s=maybe(st.floats(0, 60)),
    e2e_quantile_s=st.none(),
    in_flight=maybe(st.floats(0, 20000)),
    queued=maybe(st.floats(0, 20000)),
    price_on_demand_per_hour=st.floats(0.1, 40),
    price_spot_per_hour=maybe(st.floats(0.01, 40)),
    ready_spot=st.integers(0, 50),
    starting_spot=st.integers(0, 10),
    metrics_age_s=st.one_of(st.floats(0, 600), st.just(math.nan)),
    # rollouts at any look, and sources that cannot tell: the law's relearning (new_model)
    # runs inside every property below
    revision=st.one_of(st.none(), st.sampled_from(["r1", "r2", "r3"])),
)


def timed(obs_list):
    """Give a list of observations increasing times, 15 s apart."""
    out = []
    for i, o in enumerate(obs_list):
        out.append(Observation(**{**o.__dict__, "time_s": i * 15.0}))
    return out


def sustained(ready: int, rate: float, service: float, t0: float, steps: int, slots: int = 32,
              queued: float = 0.0) -> tuple[list[Observation], float]:
    """A fixed fleet under a constant arrival rate, observed every 15 s, physically
    consistent: the slots serve at most ready * slots / service requests per second and
    the excess piles up in the queue (so a law can tell the served rate from the offered)."""
    out = []
    for i in range(steps):
        served = min(rate + queued / 15.0, ready * slots / service)
        queued = queued + (rate - served) * 15.0
        queued = queued if queued > 1e-6 else 0.0
        busy = min(rate * service, ready * slots) if not queued else ready * slots
        out.append(Observation(
            time_s=t0 + i * 15.0, ready_replicas=ready, starting_replicas=0, arrival_rate_rps=rate,
            ttft_quantile_s=0.5 + (3.0 if queued else 0.0), e2e_quantile_s=None, in_flight=busy,
            queued=queued, price_on_demand_per_hour=4.0))
    return out, queued


@PROPS
@given(
    low=st.floats(1.0, 150.0),
    extra=st.floats(0.0, 150.0),
    ready=st.integers(2, 40),
    service=st.floats(2.0, 30.0),
)
def test_more_sustained_load_never_gives_fewer_replicas(low, extra, ready, service):
    """Same learning history (a saturation episode reveals 32 slots), then half an hour of
    sustained load at `low` or at `low + extra`: the second never ends with fewer replicas."""
    limits = Limits(min_replicas=1, max_replicas=5000)

    def run(rate: float) -> int:
        p = MeridianPolicy(OBJ, limits)
        warm, backlog = sustained(ready, 2.0 * ready * 32 / service, service, 0.0, 4)
        load, _ = sustained(ready, rate, service, 60.0, 120, queued=backlog)
        return feed(p, warm + load)[-1].replicas

    assert run(low + extra) >= run(low)


def test_more_sustained_load_examples():
    """Explicit points on the same curve, including saturated ones hypothesis may miss."""
    limits = Limits(min_replicas=1, max_replicas=5000)
    sizes = []
    for rate in (1.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0):
        p = MeridianPolicy(OBJ, limits)
        warm, backlog = sustained(10, 80.0, 8.0, 0.0, 4)
        load, _ = sustained(10, rate, 8.0, 60.0, 120, queued=backlog)
        sizes.append(feed(p, warm + load)[-1].replicas)
    assert sizes == sorted(sizes), sizes
    assert sizes[-1] >= 300.0 * 8.0 / 32  # the saturated case sizes for the offered load


@PROPS
@given(
    st.lists(observations, min_size=1, max_size=30),
    st.integers(0, 20),
    st.integers(0, 200),
    st.one_of(st.none(), st.integers(1, 20)),
    st.one_of(st.none(), st.integers(1, 20)),
    st.floats(0.0, 1.0),
)
def test_bounds_always_hold(obs_list, min_r, span, step_up, step_down, spot_share):
    limits = Limits(min_replicas=min_r, max_replicas=min_r + span, max_step_up=step_up,
                    max_step_down=step_down, spot_share=spot_share)
    p = MeridianPolicy(OBJ, limits)
    for d in feed(p, timed(obs_list)):
        assert max(min_r, 1) <= d.replicas <= max(min_r + span, 1)
        assert 0 <= d.spot <= d.replicas
        assert d.reason


bad_rate = st.sampled_from(["none", "nan", "negative", "stale", "age-nan"])


@PROPS
@given(bad=bad_rate, ready=st.integers(1, 60), rate=st.floats(0.5, 200.0), blackout=st.integers(1, 40))
def test_missing_nan_or_stale_rate_holds_the_size(bad, ready, rate, blackout):
    p = MeridianPolicy(OBJ, Limits(max_replicas=1000))
    before = feed(p, [Observation(**dict(healthy(i * 15.0, ready, rate).__dict__, revision="r0"))
                      for i in range(40)])[-1]
    t0 = 40 * 15.0
    for k in range(blackout):
        good = healthy(t0 + k * 15.0, ready, rate)
        fields = dict(good.__dict__, revision=f"rollout-{k}")  # a rollout in the blackout changes nothing
        if bad == "none":
            fields.update(arrival_rate_rps=None, ttft_quantile_s=None, in_flight=None, queued=None)
        elif bad == "nan":
            fields.update(arrival_rate_rps=math.nan)
        elif bad == "negative":
            fields.update(arrival_rate_rps=-1.0)
        elif bad == "stale":
            fields.update(metrics_age_s=61.0 + k * 15.0)
        else:
            fields.update(metrics_age_s=math.nan)
        d = p.decide(Observation(**fields))
        assert d.replicas == before.replicas
        assert not d.metrics_available


@PROPS
@given(ready=st.integers(1, 60), rate=st.floats(0.5, 200.0), field=st.sampled_from(["ttft", "in_flight", "queued"]),
       drop=st.floats(0.05, 1.0))
def test_missing_latency_or_in_flight_never_scales_down(ready, rate, field, drop):
    """The rate is fine (and non-zero: with no arrivals a missing TTFT is expected) but
    another field is not: the law may grow, never shrink."""
    p = MeridianPolicy(OBJ, Limits(max_replicas=1000))
    before = feed(p, [healthy(i * 15.0, ready, rate) for i in range(40)])[-1]
    for k in range(40):  # load falls a lot meanwhile
        fields = dict(healthy(600.0 + k * 15.0, ready, rate * drop).__dict__)
        fields.update({"ttft": {"ttft_quantile_s": None}, "in_flight": {"in_flight": math.nan},
                       "queued": {"queued": None}}[field])
        assert p.decide(Observation(**fields)).replicas >= before.replicas


@PROPS
@given(
    st.lists(observations, min_size=1, max_size=30),
    st.floats(1.0, 500.0),
    st.floats(0.0, 1.0),
)
def test_budget_ceiling_never_exceeded(obs_list, budget_factor, spot_share):
    obs_list = timed(obs_list)
    # a budget that min_replicas alone can meet at every price in the stream
    top = max(o.price_on_demand_per_hour for o in obs_list)
    limits = Limits(min_replicas=1, max_replicas=400, spot_share=spot_share, budget_per_hour=top * budget_factor)
    p = MeridianPolicy(OBJ, limits)
    for o, d in zip(obs_list, feed(p, obs_list)):
        spot_price = o.price_spot_per_hour if d.spot else None
        assert hourly_cost(d.on_demand, d.spot, o.price_on_demand_per_hour, spot_price) <= limits.budget_per_hour + 1e-9
        if d.budget_limited:
            assert "budget" in d.reason


def test_budget_limited_decision_says_so():
    limits = Limits(max_replicas=400, budget_per_hour=40.0)
    p = MeridianPolicy(OBJ, limits)
    d = feed(p, [healthy(i * 15.0, 10, 200.0) for i in range(20)])[-1]
    assert d.budget_limited and d.replicas == 10 and "budget 40.00 USD/h binds" in d.reason


@PROPS
@given(st.lists(observations, min_size=1, max_size=25))
def test_deterministic_for_a_given_history(obs_list):
    obs_list = timed(obs_list)
    a = feed(MeridianPolicy(OBJ, Limits(spot_share=0.5)), obs_list)
    b = feed(MeridianPolicy(OBJ, Limits(spot_share=0.5)), obs_list)
    assert a == b
