# an exception that ends a thread is reported on stderr (threading.excepthook's format) and the
# program goes on; SystemExit ends a thread quietly
import sys
import threading


def fails(n):
    raise ValueError("bad value %d" % n)


def exits():
    sys.exit(3)


t = threading.Thread(target=fails, args=(7,), name="failing")
t.start()
t.join()
print("after failing thread", t.is_alive())
t = threading.Thread(target=exits)
t.start()
t.join()
print("after exiting thread")
