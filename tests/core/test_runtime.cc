// tests/core/test_runtime.cc - conformance of the runtime's life cycle and options, per backend.
//
// Owns: tally_init/tally_fini/tally_is_initialized, the options struct (defaults, a shorter
// struct from an older caller, TALLY_<OPTION> environment overrides), the final collection of
// tally_fini (finalizers of cyclic garbage run, everything destroyed), a fresh runtime after
// tally_fini, and the per-thread tally_last_error.  Cases that shut the runtime down run in a
// child process (googletest death-test machinery, "threadsafe" style) so the rest of the binary
// keeps its runtime.
#include "tally_test.h"

#include <cstddef>
#include <cstdio>
#include <string>
#include <thread>

namespace {

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

class Runtime : public ::testing::Test {
  protected:
    void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// A GC type with a finalizer: cycles of these are collected at shutdown with finalizers run.
int g_fin_finalized = 0, g_fin_destroyed = 0;
struct Node {
    TALLY_OBJECT_HEAD;
    tally_object *next;
};
int node_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    auto *n = reinterpret_cast<Node *>(self);
    return n->next ? visit(n->next, arg) : 0;
}
int node_clear(tally_object *self)
{
    auto *n = reinterpret_cast<Node *>(self);
    tally_object *x = n->next;
    n->next = nullptr;
    tally_xdecref(x);
    return 0;
}
void node_finalize(tally_object *) { ++g_fin_finalized; }
void node_destroy(tally_object *self)
{
    ++g_fin_destroyed;
    node_clear(self);
}
const tally_type node_type = {"RuntimeNode", sizeof(Node), TALLY_TYPE_GC, node_traverse, node_clear,
                              node_finalize, nullptr, node_destroy};

// Child bodies (separate functions: EXPECT_EXIT's statement is a macro argument).
void child_fini_collects_cycles_with_finalizers()
{
    const int rings = 10, ring_len = 5;
    for (int r = 0; r < rings; r++) {
        Node *first = reinterpret_cast<Node *>(tally_new(&node_type));
        CHILD_CHECK(first != nullptr);
        Node *cur = first;
        for (int i = 1; i < ring_len; i++) {
            Node *n = reinterpret_cast<Node *>(tally_new(&node_type));
            CHILD_CHECK(n != nullptr);
            cur->next = &n->ob_base; // steals
            cur = n;
        }
        cur->next = tally_newref(&first->ob_base);
        tally_decref(&first->ob_base); // now only the ring keeps itself alive
    }
    tally_flush();
    CHILD_CHECK(g_fin_finalized == 0 && g_fin_destroyed == 0);
    tally_fini();
    CHILD_CHECK(!tally_is_initialized());
    CHILD_CHECK(g_fin_finalized == rings * ring_len);
    CHILD_CHECK(g_fin_destroyed == rings * ring_len);
    std::_Exit(0);
}

void child_reinit_after_fini()
{
    tally_object *keep = tally_str_new("first runtime");
    CHILD_CHECK(keep != nullptr);
    tally_decref(keep);
    for (int round = 0; round < 3; round++) {
        tally_fini();
        CHILD_CHECK(!tally_is_initialized());
        CHILD_CHECK(!tally_thread_is_attached());
        CHILD_CHECK(tally_init(nullptr) == 0);
        CHILD_CHECK(tally_is_initialized());
        CHILD_CHECK(tally_thread_is_attached());
        // Built-ins are back: cached ints and None are immortal again.
        CHILD_CHECK(tally_is_immortal(tally_none()));
        CHILD_CHECK(tally_int_new(5) == tally_int_new(5));
        tally_object *l = tally_list_new();
        CHILD_CHECK(l != nullptr);
        for (int i = 0; i < 100; i++) {
            tally_object *v = tally_int_new(1000 + i);
            CHILD_CHECK(tally_list_append(l, v) == 0);
            tally_decref(v);
        }
        CHILD_CHECK(tally_list_len(l) == 100);
        tally_decref(l);
        tally_flush();
        CHILD_CHECK(tally_gc_collect(2) >= 0);
    }
    tally_fini();
    std::_Exit(0);
}

void child_short_options_struct()
{
    tally_fini();
    // A caller compiled against an older, shorter tally_options: the missing fields take defaults.
    tally_options o = TALLY_OPTIONS_INIT;
    o.gc_threshold0 = 321;
    o.rclog_size = 12345; // beyond the size given below: must be ignored
    o.size = offsetof(tally_options, rclog_size);
    CHILD_CHECK(tally_init(&o) == 0);
    tally_options got{};
    tally_get_options(&got);
    CHILD_CHECK(got.size == sizeof(tally_options));
    CHILD_CHECK(got.gc_threshold0 == 321);
    static const tally_options defaults = TALLY_OPTIONS_INIT;
    CHILD_CHECK(got.rclog_size == defaults.rclog_size);
    int th[3];
    tally_gc_get_threshold(th);
    CHILD_CHECK(th[0] == 321);
    tally_fini();
    std::_Exit(0);
}

void child_environment_overrides()
{
    // The environment was set by the parent before this process started.
    tally_options got{};
    tally_get_options(&got);
    CHILD_CHECK(got.gc_threshold0 == 1234);
    CHILD_CHECK(got.gc_threshold1 == 7);
    CHILD_CHECK(got.switch_interval_us == 777u);
    int th[3];
    tally_gc_get_threshold(th);
    CHILD_CHECK(th[0] == 1234 && th[1] == 7);
    if (tally_test_backend_is("gil"))
        CHILD_CHECK(tally_get_switch_interval() == 777u);
    // The environment wins over the caller's struct.
    tally_fini();
    tally_options o = TALLY_OPTIONS_INIT;
    o.gc_threshold0 = 50;
    CHILD_CHECK(tally_init(&o) == 0);
    tally_get_options(&got);
    CHILD_CHECK(got.gc_threshold0 == 1234);
    tally_fini();
    std::_Exit(0);
}

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

} // namespace

TEST(RuntimeState, InitializedAndAttached)
{
    EXPECT_TRUE(tally_is_initialized());
    EXPECT_TRUE(tally_thread_is_attached());
}

TEST(RuntimeState, OptionsInForceHaveDefaultsUnlessOverridden)
{
    tally_options got{};
    tally_get_options(&got);
    EXPECT_EQ(got.size, sizeof(tally_options));
    static const tally_options defaults = TALLY_OPTIONS_INIT;
    auto expect_opt = [](const char *env, long long def, long long actual) {
        const char *e = std::getenv(env);
        long long want = e ? std::atoll(e) : def;
        EXPECT_EQ(actual, want) << env;
    };
    expect_opt("TALLY_SWITCH_INTERVAL_US", defaults.switch_interval_us, got.switch_interval_us);
    expect_opt("TALLY_GC_THRESHOLD0", defaults.gc_threshold0, got.gc_threshold0);
    expect_opt("TALLY_GC_THRESHOLD1", defaults.gc_threshold1, got.gc_threshold1);
    expect_opt("TALLY_GC_THRESHOLD2", defaults.gc_threshold2, got.gc_threshold2);
    expect_opt("TALLY_RCLOG_SIZE", defaults.rclog_size, got.rclog_size);
    EXPECT_EQ(defaults.switch_interval_us, 5000u);
    EXPECT_EQ(defaults.gc_threshold1, 10);
    EXPECT_EQ(defaults.gc_threshold2, 10);
    EXPECT_EQ(defaults.gc_enabled, 1);
}

TEST(RuntimeState, LastErrorIsPerThread)
{
    EXPECT_EQ(tally_gc_collect(7), -1);
    std::string mine = tally_last_error();
    ASSERT_FALSE(mine.empty());
    std::string other = "unset";
    std::thread t([&] { other = tally_last_error(); });
    TALLY_BEGIN_ALLOW_THREADS
    t.join();
    TALLY_END_ALLOW_THREADS
    EXPECT_EQ(other, "") << "a new thread starts without an error message";
    EXPECT_EQ(std::string(tally_last_error()), mine);
}

TEST_F(Runtime, FiniCollectsCyclicGarbageRunningFinalizers)
{
    EXPECT_EXIT(child_fini_collects_cycles_with_finalizers(), ::testing::ExitedWithCode(0), "");
}

TEST_F(Runtime, FreshRuntimeAfterFini)
{
    EXPECT_EXIT(child_reinit_after_fini(), ::testing::ExitedWithCode(0), "");
}

TEST_F(Runtime, ShorterOptionsStructFromOlderCaller)
{
    EXPECT_EXIT(child_short_options_struct(), ::testing::ExitedWithCode(0), "");
}

TEST_F(Runtime, EnvironmentOverridesOptions)
{
    ScopedEnv a("TALLY_GC_THRESHOLD0", "1234");
    ScopedEnv b("TALLY_GC_THRESHOLD1", "7");
    ScopedEnv c("TALLY_SWITCH_INTERVAL_US", "777");
    EXPECT_EXIT(child_environment_overrides(), ::testing::ExitedWithCode(0), "");
}

TEST(RuntimeState, FiniWithoutInitAndAttachAfterFiniAreHarmless)
{
    // Only the "not initialised" paths are exercised here, in a child: attach must fail with an error.
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            tally_fini();
            tally_fini(); // a second shutdown is a no-op
            CHILD_CHECK(tally_thread_attach() != 0);
            CHILD_CHECK(contains(tally_last_error(), "not initialised"));
            std::_Exit(0);
        },
        ::testing::ExitedWithCode(0), "");
}
