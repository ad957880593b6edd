"""The answering queue: bounded, with a time budget, and no work for clients that have gone."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest

from ragqa.answer.engine import AnswerEngine
from ragqa.api.admission import CLIENT_GONE, Admission, Client, ClientGoneError
from ragqa.api.app import COMPUTE_SLOTS
from ragqa.errors import OverloadedError
from ragqa.index.store import load_index

QUESTION = "What dose of ketamine is used for depression?"


class SlowEngine(AnswerEngine):
    """Takes `delay` seconds a question, and counts the questions it answered."""

    delay = 0.5
    answered = 0
    started = threading.Semaphore(0)

    def ask(self, question, top_k=None, filters=None):
        type(self).started.release()
        time.sleep(self.delay)
        type(self).answered += 1
        return super().ask(question, top_k, filters)


@pytest.fixture
def slow_engine(built_index, fake_embedder):
    SlowEngine.answered = 0
    SlowEngine.started = threading.Semaphore(0)
    return SlowEngine(load_index(built_index, fake_embedder), fake_embedder)


def ask_at_once(client, n: int) -> list:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: client.post("/v1/ask", json={"question": QUESTION}),
                             range(n)))


def test_beyond_the_queue_questions_get_503_with_retry_after(make_client, slow_engine):
    client = make_client(engine=slow_engine, queue_length=1)
    responses = ask_at_once(client, COMPUTE_SLOTS + 6)
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= COMPUTE_SLOTS
    refused = [r for r in responses if r.status_code == 503]
    assert len(refused) >= 4, statuses
    assert set(statuses) <= {200, 503}
    for response in refused:
        assert response.headers["retry-after"] == "1"
        assert "already waiting for a worker" in response.json()["message"]


def test_a_question_that_waits_past_its_time_budget_gets_503(make_client, slow_engine):
    client = make_client(engine=slow_engine, request_timeout=0.2)
    responses = ask_at_once(client, COMPUTE_SLOTS * 2)
    late = [r for r in responses if r.status_code == 503]
    assert late, [r.status_code for r in responses]
    assert all("time budget" in r.json()["message"] and r.headers["retry-after"] == "1"
               for r in late)


def test_the_question_that_waited_longest_gets_the_next_worker():
    order = []

    async def main() -> None:
        admission = Admission(1, 4, 5.0)

        async def question(name: str) -> None:
            async with admission.slot(staying()):
                order.append(name)
                await anyio.sleep(0.05)

        async with anyio.create_task_group() as group:
            for name in ("first", "second", "third", "fourth"):
                group.start_soon(question, name)
                await anyio.sleep(0.01)

    anyio.run(main)
    assert order == ["first", "second", "third", "fourth"]


def test_a_full_queue_refuses_newcomers():
    outcomes = {}

    async def main() -> None:
        admission = Admission(1, 1, 5.0)

        async def question(name: str, hold: float) -> None:
            try:
                async with admission.slot(staying()):
                    outcomes[name] = "ran"
                    await anyio.sleep(hold)
            except OverloadedError:
                outcomes[name] = "refused"

        async with anyio.create_task_group() as group:
            group.start_soon(question, "computing", 0.3)
            await anyio.sleep(0.01)
            group.start_soon(question, "waiting", 0.0)
            await anyio.sleep(0.01)
            group.start_soon(question, "newcomer", 0.0)

    anyio.run(main)
    assert outcomes == {"computing": "ran", "waiting": "ran", "newcomer": "refused"}


def test_a_question_whose_client_has_gone_is_dropped_before_its_work_with_a_worker_free():
    """The server's look (CLIENT_GONE) sees the close before `receive` reports it."""
    outcome = []

    async def main() -> None:
        admission = Admission(1, 4, 5.0)
        gone = Client({"extensions": {CLIENT_GONE: lambda: True}}, receive_forever)
        try:
            async with admission.slot(gone):
                outcome.append("ran")
        except ClientGoneError:
            outcome.append(("gone", admission.busy, admission.waiting))

    anyio.run(main)
    assert outcome == [("gone", 0, 0)]


def test_a_full_queue_first_lets_go_of_questions_whose_clients_have_closed():
    """A burst of abandoned questions fills the queue until their disconnects are read; a live
    question arriving then takes the place of one the server's look shows closed."""
    outcomes = {}

    async def main() -> None:
        admission = Admission(1, 1, 5.0)
        closed = {"abandoned"}

        async def question(name: str, hold: float) -> None:
            client = Client({"extensions": {CLIENT_GONE: lambda: name in closed}},
                            receive_forever)
            try:
                async with admission.slot(client):
                    outcomes[name] = "ran"
                    await anyio.sleep(hold)
            except ClientGoneError:
                outcomes[name] = "dropped"
            except OverloadedError:
                outcomes[name] = "refused"

        async with anyio.create_task_group() as group:
            group.start_soon(question, "computing", 0.2)
            await anyio.sleep(0.01)
            group.start_soon(question, "abandoned", 0.0)
            await anyio.sleep(0.01)
            group.start_soon(question, "live", 0.0)
            await anyio.sleep(0.01)
            group.start_soon(question, "one too many", 0.0)

    anyio.run(main)
    assert outcomes == {"computing": "ran", "abandoned": "dropped", "live": "ran",
                        "one too many": "refused"}


def test_a_waiting_question_whose_client_goes_is_skipped_when_a_worker_frees():
    """The look just before the work starts drops a question granted a worker after its client
    went, and the worker passes on to the next in line."""
    order = []

    async def main() -> None:
        admission = Admission(1, 4, 5.0)
        left = {"second": False}

        async def question(name: str, hold: float) -> None:
            client = Client({"extensions": {CLIENT_GONE: lambda: left.get(name, False)}},
                            receive_forever)
            try:
                async with admission.slot(client):
                    order.append(name)
                    await anyio.sleep(hold)
            except ClientGoneError:
                order.append(f"{name} dropped")

        async with anyio.create_task_group() as group:
            group.start_soon(question, "first", 0.1)
            await anyio.sleep(0.01)
            group.start_soon(question, "second", 0.0)
            await anyio.sleep(0.01)
            group.start_soon(question, "third", 0.0)
            await anyio.sleep(0.01)
            left["second"] = True  # its close is not read yet: only the look sees it

    anyio.run(main)
    assert order == ["first", "second dropped", "third"]


def test_the_queue_and_budget_are_in_the_openapi(client):
    ask = client.get("/openapi.json").json()["paths"]["/v1/ask"]["post"]["responses"]
    assert {"400", "408", "413", "415", "422", "503"} <= set(ask)


def run_waiting(admission: Admission, receive) -> str:
    """Hold the only slot, then let a second question wait with `receive`; how it ended."""
    outcome = []

    async def first(started: anyio.Event) -> None:
        async with admission.slot(staying()):
            started.set()
            await anyio.sleep(0.3)

    async def second() -> None:
        try:
            async with admission.slot(Client({}, receive)):
                outcome.append("ran")
        except ClientGoneError:
            outcome.append("gone")
        except OverloadedError as exc:
            outcome.append(f"refused: {exc}")

    async def main() -> None:
        started = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(first, started)
            await started.wait()
            group.start_soon(second)

    anyio.run(main)
    return outcome[0]


async def receive_forever():
    await anyio.sleep_forever()


def staying() -> Client:
    """A client that never leaves."""
    return Client({}, receive_forever)


def test_a_client_that_disconnects_while_waiting_leaves_the_queue():
    async def disconnects_soon():
        await anyio.sleep(0.05)
        return {"type": "http.disconnect"}

    assert run_waiting(Admission(1, 4, 5.0), disconnects_soon) == "gone"


def test_a_client_that_stays_gets_the_slot_when_it_frees():
    assert run_waiting(Admission(1, 4, 5.0), receive_forever) == "ran"


def test_the_budget_covers_waiting():
    assert run_waiting(Admission(1, 4, 0.1), receive_forever).startswith("refused: no worker")


def test_no_queue_refuses_at_once():
    assert "no question may wait" in run_waiting(Admission(1, 0, 5.0), receive_forever)


@pytest.mark.parametrize(("slots", "queue"), [(0, 1), (1, -1)])
def test_admission_checks_its_bounds(slots, queue):
    with pytest.raises(ValueError, match="must be"):
        Admission(slots, queue, 1.0)


def test_abandoned_requests_are_not_answered(make_client, slow_engine):
    """Through the ASGI app: a request whose client is gone before a slot frees is dropped."""
    client = make_client(engine=slow_engine, queue_length=50)
    app = client.app
    sent: list[dict] = []

    async def abandoned() -> None:
        body = b'{"question": "ketamine dose"}'
        messages = iter([{"type": "http.request", "body": body, "more_body": False}])

        async def receive():
            message = next(messages, None)
            if message is not None:
                return message
            await anyio.sleep(0.05)
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/v1/ask", "raw_path": b"/v1/ask",
                 "query_string": b"", "headers": [(b"content-type", b"application/json")],
                 "http_version": "1.1", "scheme": "http", "server": ("t", 80),
                 "client": ("c", 1), "root_path": "", "app": app, "state": {}}
        await app(scope, receive, send)

    busy = threading.Thread(target=ask_at_once, args=(client, COMPUTE_SLOTS))
    busy.start()
    for _ in range(COMPUTE_SLOTS):  # every worker is busy for 0.5 s
        assert SlowEngine.started.acquire(timeout=10)
    client.portal.call(lambda: _gather(abandoned, 10))
    busy.join()
    time.sleep(0.2)
    assert SlowEngine.answered == COMPUTE_SLOTS, [m.get("status") for m in sent]
    assert [m for m in sent if m["type"] == "http.response.start"] == []  # nobody to answer


async def _gather(function, n: int) -> None:
    async with anyio.create_task_group() as group:
        for _ in range(n):
            group.start_soon(function)


def test_a_question_whose_client_has_gone_gets_no_worker_and_no_response(make_client,
                                                                           slow_engine):
    """Through the ASGI app, every worker free: the server's look says the client has closed
    (its close not yet read), so nothing is computed, nothing is sent, and the app returns only
    once the server has seen the disconnect (uvicorn would otherwise send a 500 and log it)."""
    client = make_client(engine=slow_engine)
    app = client.app
    sent: list[dict] = []
    events: list[str] = []

    async def abandoned() -> None:
        body = b'{"question": "ketamine dose"}'
        messages = iter([{"type": "http.request", "body": body, "more_body": False}])

        async def receive():
            message = next(messages, None)
            if message is not None:
                return message
            await anyio.sleep(0.05)  # the server reads the close a moment later
            events.append("disconnect read")
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/v1/ask", "raw_path": b"/v1/ask",
                 "query_string": b"", "headers": [(b"content-type", b"application/json")],
                 "http_version": "1.1", "scheme": "http", "server": ("t", 80),
                 "client": ("c", 1), "root_path": "", "app": app, "state": {},
                 "extensions": {CLIENT_GONE: lambda: True}}
        await app(scope, receive, send)
        events.append("returned")

    client.portal.call(abandoned)
    assert SlowEngine.answered == 0
    assert sent == []
    assert events == ["disconnect read", "returned"]
