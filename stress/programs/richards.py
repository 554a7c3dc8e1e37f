"""stress/programs/richards.py - Martin Richards' operating-system simulation benchmark.

Owns: our own Python version of the classic task-scheduler benchmark (issue 14, item 7): six
tasks (an idle task, a worker, two handlers, two devices) pass packets through a priority
scheduler; each run must end with 23246 packets queued and 9297 holds, as in the original
BCPL program.  Objects: task control blocks and packets as class instances with inheritance,
method calls through the task classes, linked lists of packets.

Usage: richards.py [RUNS]   (default 2; the timing size is 40)
Prints one line per check and exits 0 when every run gave the expected counts, 1 otherwise.
"""
import sys
from bench_args import parse_size

ID_IDLE = 1
ID_WORK = 2
ID_HANDLER_A = 3
ID_HANDLER_B = 4
ID_DEVICE_A = 5
ID_DEVICE_B = 6
TASK_SLOTS = 7

KIND_DEVICE = 0
KIND_WORK = 1
BUFFER_SIZE = 4

EXPECTED_QUEUED = 23246
EXPECTED_HOLDS = 9297


class Packet:
    def __init__(self, link, ident, kind):
        self.link = link
        self.ident = ident
        self.kind = kind
        self.datum = 0
        self.data = [0] * BUFFER_SIZE

    def append_to(self, queue):
        """Puts this packet at the end of queue and returns the queue's new head."""
        self.link = None
        if queue is None:
            return self
        tail = queue
        while tail.link is not None:
            tail = tail.link
        tail.link = self
        return queue


class DeviceState:
    def __init__(self):
        self.pending = None


class IdleState:
    def __init__(self, count):
        self.control = 1
        self.count = count


class HandlerState:
    def __init__(self):
        self.work_queue = None
        self.device_queue = None


class WorkerState:
    def __init__(self):
        self.destination = ID_HANDLER_A
        self.count = 0


class Scheduler:
    def __init__(self):
        self.tasks = [None] * TASK_SLOTS
        self.task_list = None
        self.current = None
        self.current_ident = 0
        self.queued = 0
        self.holds = 0

    def find(self, ident):
        task = self.tasks[ident]
        if task is None:
            raise RuntimeError(f"no task {ident}")
        return task

    def run(self):
        task = self.task_list
        while task is not None:
            if task.blocked():
                task = task.link
            else:
                self.current = task
                self.current_ident = task.ident
                task = task.step()


class Task:
    def __init__(self, sched, ident, priority, queue, state):
        self.sched = sched
        self.ident = ident
        self.priority = priority
        self.queue = queue
        self.state = state
        self.has_packet = queue is not None
        self.waiting = False
        self.held = False
        self.link = sched.task_list
        sched.task_list = self
        sched.tasks[ident] = self

    def blocked(self):
        return self.held or (not self.has_packet and self.waiting)

    def step(self):
        packet = None
        if self.has_packet and self.waiting and not self.held:
            # waiting with a packet: take the first one and run
            packet = self.queue
            self.queue = packet.link
            self.has_packet = self.queue is not None
            self.waiting = False
        return self.work(packet)

    # the scheduler's services, each returning the task to run next
    def wait(self):
        self.waiting = True
        return self

    def hold(self):
        self.sched.holds += 1
        self.held = True
        return self.link

    def release(self, ident):
        task = self.sched.find(ident)
        task.held = False
        if task.priority > self.priority:
            return task
        return self

    def send(self, packet):
        target = self.sched.find(packet.ident)
        self.sched.queued += 1
        packet.link = None
        packet.ident = self.sched.current_ident
        return target.receive(packet, self)

    def receive(self, packet, sender):
        if self.queue is None:
            self.queue = packet
            self.has_packet = True
            if self.priority > sender.priority:
                return self
        else:
            self.queue = packet.append_to(self.queue)
        return sender


class DeviceTask(Task):
    def work(self, packet):
        state = self.state
        if packet is None:
            packet = state.pending
            if packet is None:
                return self.wait()
            state.pending = None
            return self.send(packet)
        state.pending = packet
        return self.hold()


class HandlerTask(Task):
    def work(self, packet):
        state = self.state
        if packet is not None:
            if packet.kind == KIND_WORK:
                state.work_queue = packet.append_to(state.work_queue)
            else:
                state.device_queue = packet.append_to(state.device_queue)
        work = state.work_queue
        if work is None:
            return self.wait()
        index = work.datum
        if index >= BUFFER_SIZE:
            state.work_queue = work.link
            return self.send(work)
        device = state.device_queue
        if device is None:
            return self.wait()
        state.device_queue = device.link
        device.datum = work.data[index]
        work.datum = index + 1
        return self.send(device)


class IdleTask(Task):
    def work(self, packet):
        state = self.state
        state.count -= 1
        if state.count == 0:
            return self.hold()
        if state.control & 1 == 0:
            state.control //= 2
            return self.release(ID_DEVICE_A)
        state.control = (state.control // 2) ^ 0xD008
        return self.release(ID_DEVICE_B)


class WorkerTask(Task):
    def work(self, packet):
        state = self.state
        if packet is None:
            return self.wait()
        if state.destination == ID_HANDLER_A:
            state.destination = ID_HANDLER_B
        else:
            state.destination = ID_HANDLER_A
        packet.ident = state.destination
        packet.datum = 0
        for i in range(BUFFER_SIZE):
            state.count += 1
            if state.count > 26:
                state.count = 1
            packet.data[i] = ord("A") + state.count - 1
        return self.send(packet)


def make_queue(ident, kind, length):
    queue = None
    for _ in range(length):
        queue = Packet(queue, ident, kind)
    return queue


def one_run():
    sched = Scheduler()
    idle = IdleTask(sched, ID_IDLE, 1, None, IdleState(10000))
    worker = WorkerTask(sched, ID_WORK, 1000, make_queue(0, KIND_WORK, 2), WorkerState())
    worker.waiting = True
    handler_a = HandlerTask(sched, ID_HANDLER_A, 2000, make_queue(ID_DEVICE_A, KIND_DEVICE, 3), HandlerState())
    handler_a.waiting = True
    handler_b = HandlerTask(sched, ID_HANDLER_B, 3000, make_queue(ID_DEVICE_B, KIND_DEVICE, 3), HandlerState())
    handler_b.waiting = True
    DeviceTask(sched, ID_DEVICE_A, 4000, None, DeviceState()).waiting = True
    DeviceTask(sched, ID_DEVICE_B, 5000, None, DeviceState()).waiting = True
    sched.run()
    return sched.queued, sched.holds, idle.state.control


def main():
    runs = parse_size(sys.argv, 2, "richards.py")
    ok = True
    control_sum = 0
    for _ in range(runs):
        queued, holds, control = one_run()
        control_sum += control
        if queued != EXPECTED_QUEUED or holds != EXPECTED_HOLDS:
            ok = False
            print(f"richards: wrong counts: {queued} packets queued, {holds} holds")
    print(f"richards: {runs} runs, {queued} packets queued, {holds} holds per run, control sum {control_sum}")
    print("richards: " + ("ok" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
