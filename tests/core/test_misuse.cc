// tests/core/test_misuse.cc - conformance of API-misuse reporting, per backend.
//
// Owns: what happens when a program breaks the rules.  With debug checks on (debug builds, or
// TALLY_DEBUG=1 in the environment) misuse aborts with a message naming the object's type and
// address; with them off the call records the reason for tally_last_error() and returns an
// error where the API has one.  Both modes are tested in every build: each case runs in a
// child process (googletest death tests, "threadsafe" style: the child re-executes this binary
// and initialises its own runtime) with TALLY_DEBUG set to 1 or 0 in its environment.
// Checks that exist only in libraries compiled with TALLY_DEBUG are probed first and run
// where they are compiled in; a debug build (no NDEBUG) must have them.
#include "tally_test.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

// Sets an environment variable for the lifetime of the object, then restores it.
class ScopedEnv {
  public:
    ScopedEnv(const char *name, const char *value) : name_(name)
    {
        const char *old = std::getenv(name);
        had_ = old != nullptr;
        if (had_)
            old_ = old;
        setenv(name, value, 1);
    }
    ~ScopedEnv()
    {
        if (had_)
            setenv(name_.c_str(), old_.c_str(), 1);
        else
            unsetenv(name_.c_str());
    }

  private:
    std::string name_, old_;
    bool had_ = false;
};

// Child-process checks: report and exit 1 on the first failure, exit 0 when all held.
#define CHILD_CHECK(cond)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            std::fprintf(stderr, "child check failed: %s (last error: '%s')\n", #cond,       \
                         tally_last_error());                                              \
            std::fflush(stderr);                                                           \
            std::_Exit(1);                                                                 \
        }                                                                                  \
    } while (0)

bool contains(const char *hay, const char *needle) { return hay && std::strstr(hay, needle) != nullptr; }

class Misuse : public ::testing::Test {
  protected:
    void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// ---- a destroy that drops a reference it does not own -----------------------------------
// Inside destroy the object's count is already zero and its memory is still valid, so a decref
// of `self` there is a decref past zero that cannot touch freed memory.
int g_double_drop_destroyed = 0;
std::string g_error_in_destroy;
void double_drop_destroy(tally_object *self)
{
    ++g_double_drop_destroyed;
    (tally_decref)(self); // the exported entry point: it checks in every build
    g_error_in_destroy = tally_last_error();
}
const tally_type double_drop_type = {"MisuseDoubleDrop", sizeof(tally_object), 0, nullptr, nullptr, nullptr,
                                     nullptr, double_drop_destroy};

void double_drop()
{
    tally_object *o = tally_new(&double_drop_type);
    if (!o)
        std::_Exit(3);
    tally_decref(o);
    tally_flush();
}

// Whether this backend detects a decref past zero through the exported tally_decref in
// every build (gil, racy and atomic read their exact count), or only in debug slow paths.
bool negative_refcount_checked_in_every_build()
{
    return tally_test_backend_is("gil") || tally_test_backend_is("racy") || tally_test_backend_is("atomic");
}

// Probe: does a decref past zero abort with debug checks on?  A fresh process image of this
// binary (TALLY_TEST_MISUSE_PROBE set) runs double_drop() before main() and exits 0 if it
// returned.
struct MisuseProbeMain {
    MisuseProbeMain()
    {
        if (!std::getenv("TALLY_TEST_MISUSE_PROBE"))
            return;
        tally_options o = TALLY_OPTIONS_INIT;
        o.debug = 1;
        if (tally_init(&o) != 0)
            std::_Exit(2);
        double_drop();
        std::_Exit(0);
    }
} misuse_probe_main;

bool negative_refcount_aborts_in_debug_mode()
{
    static int cached = -1;
    if (cached >= 0)
        return cached != 0;
    // posix_spawn, not fork(): the probe must not depend on (or exercise) the runtime's fork
    // handlers; tests/threads/test_fork.cc does that.
    std::vector<std::string> env_store;
    for (char **e = environ; *e; e++)
        if (std::strncmp(*e, "TALLY_DEBUG=", 12) != 0)
            env_store.emplace_back(*e);
    env_store.emplace_back("TALLY_DEBUG=1");
    env_store.emplace_back("TALLY_TEST_MISUSE_PROBE=1");
    std::vector<char *> envp;
    for (auto &e : env_store)
        envp.push_back(&e[0]);
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    char exe[] = "/proc/self/exe";
    char *argv[] = {exe, nullptr};
    pid_t pid = -1;
    int rc = posix_spawn(&pid, exe, &fa, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        ADD_FAILURE() << "posix_spawn of the probe failed: " << std::strerror(rc);
        return false;
    }
    // Bounded wait: a hang is a failure of its own, not a reason to hang the suite.
    int status = 0;
    for (int i = 0; i < 6000; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (i == 5999) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            ADD_FAILURE() << "the misuse probe (a decref past zero with TALLY_DEBUG=1) hung for 60 s";
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    cached = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    return cached != 0;
}

} // namespace

TEST_F(Misuse, NegativeRefcountAbortsNamingTypeAndAddress)
{
    bool aborts = negative_refcount_aborts_in_debug_mode();
#ifndef NDEBUG
    EXPECT_TRUE(aborts) << "a debug build must detect a decref past zero";
#endif
    if (negative_refcount_checked_in_every_build()) {
        EXPECT_TRUE(aborts) << "the exported tally_decref checks the count in this backend";
    }
    if (!aborts)
        GTEST_SKIP() << "decref past zero is checked only in debug builds of the " << tally_backend() << " backend";
    ScopedEnv env("TALLY_DEBUG", "1");
    EXPECT_DEATH(double_drop(), "misuse.*object 0x[0-9a-f]+ of type 'MisuseDoubleDrop'");
}

TEST_F(Misuse, NegativeRefcountWithoutDebugRecordsErrorAndReturns)
{
    if (!negative_refcount_checked_in_every_build() && !negative_refcount_aborts_in_debug_mode())
        GTEST_SKIP() << "decref past zero is checked only in debug builds of the " << tally_backend() << " backend";
    ScopedEnv env("TALLY_DEBUG", "0");
    EXPECT_EXIT(
        {
            g_double_drop_destroyed = 0;
            double_drop();
            CHILD_CHECK(g_double_drop_destroyed == 1);
            // Reported at the decref (immediate backends) or when deferred applies it (flush).
            std::string err = contains(g_error_in_destroy.c_str(), "MisuseDoubleDrop") ? g_error_in_destroy
                                                                                        : tally_last_error();
            CHILD_CHECK(contains(err.c_str(), "negative refcount"));
            CHILD_CHECK(contains(err.c_str(), "MisuseDoubleDrop"));
            CHILD_CHECK(contains(err.c_str(), "0x"));
            // The runtime still works afterwards.
            tally_object *l = tally_list_new();
            CHILD_CHECK(l != nullptr);
            CHILD_CHECK(tally_list_append(l, tally_none()) == 0);
            tally_decref(l);
            tally_flush();
            std::_Exit(0);
        },
        ::testing::ExitedWithCode(0), "");
}

TEST_F(Misuse, NullToExportedIncrefDecrefIsReported)
{
    ScopedEnv env("TALLY_DEBUG", "1");
    EXPECT_DEATH((tally_decref)(nullptr), "tally_decref\\(NULL\\)");
    EXPECT_DEATH((tally_incref)(nullptr), "tally_incref\\(NULL\\)");
}

// ---- unattached threads -------------------------------------------------------------------

TEST_F(Misuse, NewFromUnattachedThreadAbortsInDebugMode)
{
    ScopedEnv env("TALLY_DEBUG", "1");
    EXPECT_DEATH(
        {
            std::thread t([] { (void)tally_new(&counted_type); });
            t.join();
        },
        "tally_new.*not attached");
}

TEST_F(Misuse, NewFromUnattachedThreadReturnsNullWithError)
{
    ScopedEnv env("TALLY_DEBUG", "0");
    EXPECT_EXIT(
        {
            tally_object *got = reinterpret_cast<tally_object *>(1);
            std::string err;
            bool attached = true;
            std::thread t([&] {
                attached = tally_thread_is_attached();
                got = tally_new(&counted_type);
                err = tally_last_error();
            });
            t.join();
            CHILD_CHECK(!attached);
            CHILD_CHECK(got == nullptr);
            CHILD_CHECK(contains(err.c_str(), "tally_new"));
            CHILD_CHECK(contains(err.c_str(), "attach"));
            // The error is per thread: this (attached) thread's message is untouched.
            CHILD_CHECK(!contains(tally_last_error(), "tally_new"));
            std::_Exit(0);
        },
        ::testing::ExitedWithCode(0), "");
}

TEST_F(Misuse, SafepointAndDetachFromUnattachedThread)
{
    {
        ScopedEnv env("TALLY_DEBUG", "1");
        EXPECT_DEATH(
            {
                std::thread t([] { tally_safepoint(); });
                t.join();
            },
            "tally_safepoint.*not attached");
        EXPECT_DEATH(
            {
                std::thread t([] { tally_thread_detach(); });
                t.join();
            },
            "tally_thread_detach.*not attached");
        EXPECT_DEATH(
            {
                std::thread t([] {
                    TALLY_BEGIN_ALLOW_THREADS
                    TALLY_END_ALLOW_THREADS
                });
                t.join();
            },
            "TALLY_BEGIN_ALLOW_THREADS.*not attached");
    }
    ScopedEnv env("TALLY_DEBUG", "0");
    EXPECT_EXIT(
        {
            std::string err;
            std::thread t([&] {
                tally_safepoint();
                err = tally_last_error();
            });
            t.join();
            CHILD_CHECK(contains(err.c_str(), "not attached"));
            std::_Exit(0);
        },
        ::testing::ExitedWithCode(0), "");
}

void child_unattached_last_decref()
{
    std::atomic<int> destroyed{0};
    CountedObject *c = counted_new(&destroyed);
    CHILD_CHECK(c != nullptr);
    std::string err;
    std::thread t([&] {
        tally_decref(&c->ob_base);
        err = tally_last_error();
    });
    t.join();
    CHILD_CHECK(contains(err.c_str(), "Counted"));
    CHILD_CHECK(contains(err.c_str(), "attach"));
    // An unattached thread never runs a destroy (user code outside the GIL or the stop-the-world
    // protocol).  biased queues the decrement for the owner, which is attached and applies it at
    // its next merge; the others leave the object alive (leaked), deferred without even
    // applying the decrement.
    tally_flush();
    CHILD_CHECK(destroyed.load() == (tally_test_backend_is("biased") ? 1 : 0));
    std::_Exit(0);
}

TEST_F(Misuse, LastReferenceDroppedByUnattachedThreadNamesTheType)
{
    {
        ScopedEnv env("TALLY_DEBUG", "1");
        EXPECT_DEATH(
            {
                std::atomic<int> destroyed{0};
                CountedObject *c = counted_new(&destroyed);
                std::thread t([c] { tally_decref(&c->ob_base); });
                t.join();
                tally_flush();
            },
            "not attached.*object 0x[0-9a-f]+ of type 'Counted'");
    }
    ScopedEnv env("TALLY_DEBUG", "0");
    EXPECT_EXIT(child_unattached_last_decref(), ::testing::ExitedWithCode(0), "");
}

// One decref too many.  Debug mode keeps destroyed objects poisoned for a while
// (runtime/quarantine.c), so the extra decref neither runs destroy a second time nor frees the
// object that reuses the memory; it is reported naming the type and address: at once where the
// library sees the operation (exported entry points, biased's shared path, deferred's log
// application), else when the object leaves quarantine or at tally_fini.  gil and biased used
// to run destroy twice with no error, atomic destroyed twice and only then reported.
int g_twice_destroyed = 0;
void twice_destroy(tally_object *)
{
    if (++g_twice_destroyed > 1) {
        std::fprintf(stderr, "destroy ran twice\n");
        std::fflush(stderr);
        std::_Exit(4);
    }
}
const tally_type twice_type = {"DecrefTwice", sizeof(tally_object), 0, nullptr, nullptr, nullptr, nullptr,
                               twice_destroy};

void decref_too_many()
{
    tally_object *o = tally_new(&twice_type);
    if (!o)
        std::_Exit(3);
    tally_decref(o);
    tally_flush();
    tally_decref(o);   // the inline fast path of this program: one too many
    tally_flush();
    // Memory that the allocator would hand out again: none of it may be o's.
    std::vector<tally_object *> more;
    for (int i = 0; i < 1000; i++)
        more.push_back(tally_new(&twice_type));
    for (tally_object *m : more)
        if (m == o)
            std::_Exit(5);
    g_twice_destroyed = -100000;   // their destroys are legitimate
    for (tally_object *m : more)
        tally_decref(m);
    tally_fini();
    std::_Exit(0);
}

TEST_F(Misuse, DecrefTooManyIsReportedAndNeverDestroysTwice)
{
    ScopedEnv env("TALLY_DEBUG", "1");
    EXPECT_DEATH(decref_too_many(), "already destroyed.*object 0x[0-9a-f]+ of type 'DecrefTwice'");
}

// A traverse that visits a pointer that is not an object (here: into a plain buffer).  The
// collector's passes read and write such a pointer's "header": a byte of user memory changed in
// young collections, a crash in full ones.  Debug mode checks each pointer a user type's traverse
// visits against the set of live objects and names the type whose traverse is wrong.
struct BadTraverse {
    TALLY_OBJECT_HEAD;
    unsigned char *buffer;   // not an object
};
int bad_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    return visit(reinterpret_cast<tally_object *>(reinterpret_cast<BadTraverse *>(self)->buffer), arg);
}
void bad_destroy(tally_object *self) { std::free(reinterpret_cast<BadTraverse *>(self)->buffer); }
const tally_type bad_traverse_type = {"BadTraverse", sizeof(BadTraverse), TALLY_TYPE_GC, bad_traverse, nullptr,
                                      nullptr, nullptr, bad_destroy};

void collect_with_bad_traverse(int generation)
{
    auto *b = reinterpret_cast<BadTraverse *>(tally_new(&bad_traverse_type));
    if (!b)
        std::_Exit(3);
    b->buffer = static_cast<unsigned char *>(std::calloc(1, 64));
    (void)tally_gc_collect(generation);
    std::_Exit(0);
}

TEST_F(Misuse, TraverseVisitingANonObjectIsReportedNamingTheType)
{
    ScopedEnv env("TALLY_DEBUG", "1");
    EXPECT_DEATH(collect_with_bad_traverse(0), "traverse visited 0x[0-9a-f]+, which is not a live Tally object.*of type 'BadTraverse'");
    EXPECT_DEATH(collect_with_bad_traverse(2), "traverse visited 0x[0-9a-f]+, which is not a live Tally object.*of type 'BadTraverse'");
}

// Container and weakref calls from a thread that is not attached fail with an error and change
// nothing.  deferred's list_append used to return 0 holding an item it took no reference to (the
// increment was refused), and gil mutated the list without the GIL.
void child_unattached_containers()
{
    std::atomic<int> destroyed{0};
    CountedObject *c = counted_new(&destroyed);
    tally_object *item = &c->ob_base;
    tally_object *l = tally_list_new(), *d = tally_dict_new(), *k = tally_str_new("k");
    CHILD_CHECK(l && d && k);
    CHILD_CHECK(tally_list_append(l, item) == 0);
    tally_object *wr = tally_weakref_new(item, nullptr, nullptr);
    CHILD_CHECK(wr != nullptr);
    tally_flush();
    intptr_t rc_before = tally_refcount(item);
    struct Got {
        int append = 0, set = 0, dset = 0, ddel = 0, clear = 0;
        tally_object *get = nullptr, *pop = nullptr, *dget = nullptr, *wget = nullptr, *wnew = nullptr;
        std::string err;
    } g;
    std::thread t([&] {
        g.append = tally_list_append(l, item);
        g.err = tally_last_error();
        g.set = tally_list_set(l, 0, item);
        g.get = tally_list_get(l, 0);
        g.pop = tally_list_pop(l);
        g.clear = tally_list_clear(l);
        g.dset = tally_dict_set(d, k, item);
        g.dget = tally_dict_get(d, k);
        g.ddel = tally_dict_del(d, k);
        g.wget = tally_weakref_get(wr);
        g.wnew = tally_weakref_new(item, nullptr, nullptr);
    });
    t.join();
    CHILD_CHECK(g.append == -1 && g.set == -1 && g.clear == -1 && g.dset == -1 && g.ddel == -1);
    CHILD_CHECK(!g.get && !g.pop && !g.dget && !g.wget && !g.wnew);
    CHILD_CHECK(contains(g.err.c_str(), "tally_list_append") && contains(g.err.c_str(), "not attached"));
    tally_flush();
    CHILD_CHECK(tally_list_len(l) == 1);          // nothing appended, popped or cleared
    tally_object *first = tally_list_get(l, 0);   // a new reference
    CHILD_CHECK(first == item);
    tally_xdecref(first);
    CHILD_CHECK(tally_dict_len(d) == 0);
    CHILD_CHECK(tally_refcount(item) == rc_before);
    tally_decref(l);
    tally_decref(d);
    tally_decref(k);
    tally_decref(item);
    tally_flush();
    CHILD_CHECK(destroyed.load() == 1);
    tally_object *gone = tally_weakref_get(wr);
    CHILD_CHECK(gone == nullptr);
    tally_decref(wr);
    std::_Exit(0);
}

TEST_F(Misuse, ContainerCallsFromUnattachedThreadFailAndChangeNothing)
{
    {
        ScopedEnv env("TALLY_DEBUG", "1");
        EXPECT_DEATH(
            {
                tally_object *l = tally_list_new();
                std::thread t([l] { (void)tally_list_append(l, l); });
                t.join();
            },
            "tally_list_append.*not attached");
    }
    ScopedEnv env("TALLY_DEBUG", "0");
    EXPECT_EXIT(child_unattached_containers(), ::testing::ExitedWithCode(0), "");
}

#if defined(TALLY_BACKEND_DEFERRED)
// deferred: a borrow on an attached thread touches only the thread's pending-increment slot and
// never the log, so an unattached thread is recognised by a sentinel in that slot.  Its very
// first increment (a thread that never attached), and an increment after a detach, must be
// reported and must change nothing.
void child_unattached_incref()
{
    std::atomic<int> destroyed{0};
    CountedObject *c = counted_new(&destroyed);
    CHILD_CHECK(c != nullptr);
    tally_flush();
    std::string first, second;
    std::thread t([&] {
        tally_incref(&c->ob_base);   // the thread's first refcount operation
        first = tally_last_error();
        tally_incref(&c->ob_base);
        second = tally_last_error();
    });
    t.join();
    CHILD_CHECK(contains(first.c_str(), "tally_incref") && contains(first.c_str(), "not attached"));
    CHILD_CHECK(contains(second.c_str(), "not attached"));
    std::string after_detach;
    std::thread t2([&] {
        CHILD_CHECK(tally_thread_attach() == 0);
        tally_incref(&c->ob_base);   // a real, pending increment...
        tally_decref(&c->ob_base);   // ...cancelled
        tally_thread_detach();
        tally_incref(&c->ob_base);   // detached: reported, not applied
        after_detach = tally_last_error();
        tally_thread_release();
    });
    t2.join();
    CHILD_CHECK(contains(after_detach.c_str(), "not attached"));
    tally_flush();
    CHILD_CHECK(tally_refcount(&c->ob_base) == 1);
    tally_decref(&c->ob_base);
    tally_flush();
    CHILD_CHECK(destroyed.load() == 1);
    std::_Exit(0);
}

TEST_F(Misuse, DeferredIncrefFromUnattachedThreadIsReportedAndNotApplied)
{
    ScopedEnv env("TALLY_DEBUG", "0");
    EXPECT_EXIT(child_unattached_incref(), ::testing::ExitedWithCode(0), "");
}
#endif

// ---- error returns -------------------------------------------------------------------------

TEST(MisuseErrors, CollectBadGenerationReturnsMinusOne)
{
    for (int g : {3, -1, 100}) {
        EXPECT_EQ(tally_gc_collect(g), -1) << g;
        std::string err = tally_last_error();
        EXPECT_NE(err.find("generation"), std::string::npos) << err;
        EXPECT_NE(err.find(std::to_string(g)), std::string::npos) << err;
    }
    // Valid generations still work afterwards.
    EXPECT_GE(tally_gc_collect(0), 0);
}

TEST(MisuseErrors, InitTwiceFails)
{
    ASSERT_TRUE(tally_is_initialized());
    EXPECT_NE(tally_init(nullptr), 0);
    EXPECT_NE(std::string(tally_last_error()).find("already"), std::string::npos) << tally_last_error();
    // Nothing changed: the runtime is still up and this thread attached.
    EXPECT_TRUE(tally_is_initialized());
    EXPECT_TRUE(tally_thread_is_attached());
    tally_object *l = tally_list_new();
    ASSERT_NE(l, nullptr);
    tally_decref(l);
    tally_flush();
}

TEST(MisuseErrors, NewWithTooSmallTypeFails)
{
    static const tally_type tiny = {"MisuseTiny", sizeof(tally_object) - 1, 0, nullptr, nullptr, nullptr, nullptr,
                                    nullptr};
    EXPECT_EQ(tally_new(&tiny), nullptr);
    EXPECT_NE(std::string(tally_last_error()).find("MisuseTiny"), std::string::npos) << tally_last_error();
    EXPECT_EQ(tally_new(nullptr), nullptr);
}

void child_bad_options()
{
    tally_fini();
    CHILD_CHECK(!tally_is_initialized());
    for (size_t bad : {size_t(0), size_t(3), sizeof(tally_options) * 100}) {
        tally_options o = TALLY_OPTIONS_INIT;
        o.size = bad;
        CHILD_CHECK(tally_init(&o) != 0);
        CHILD_CHECK(contains(tally_last_error(), "size"));
        CHILD_CHECK(!tally_is_initialized());
    }
    // An out-of-range value in a well-sized struct is refused too, naming the option.
    tally_options neg = TALLY_OPTIONS_INIT;
    neg.gc_threshold0 = -5;
    CHILD_CHECK(tally_init(&neg) != 0);
    CHILD_CHECK(contains(tally_last_error(), "GC_THRESHOLD0"));
    CHILD_CHECK(!tally_is_initialized());
    // A good struct then initialises.
    tally_options good = TALLY_OPTIONS_INIT;
    CHILD_CHECK(tally_init(&good) == 0);
    tally_object *s = tally_str_new("after re-init");
    CHILD_CHECK(s && std::strcmp(tally_str_value(s), "after re-init") == 0);
    tally_decref(s);
    tally_fini();
    std::_Exit(0);
}

TEST_F(Misuse, OptionsWithBadSizeField)
{
    EXPECT_EXIT(child_bad_options(), ::testing::ExitedWithCode(0), "");
}

TEST_F(Misuse, BadEnvironmentValueIsRefusedNamingTheVariable)
{
    EXPECT_EXIT(
        {
            tally_fini();
            setenv("TALLY_GC_ENABLED", "7", 1);
            CHILD_CHECK(tally_init(nullptr) != 0);
            CHILD_CHECK(contains(tally_last_error(), "TALLY_GC_ENABLED"));
            CHILD_CHECK(contains(tally_last_error(), "'7'"));
            setenv("TALLY_GC_ENABLED", "yes", 1);
            CHILD_CHECK(tally_init(nullptr) != 0);
            unsetenv("TALLY_GC_ENABLED");
            CHILD_CHECK(tally_init(nullptr) == 0);
            tally_fini();
            std::_Exit(0);
        },
        ::testing::ExitedWithCode(0), "");
}
