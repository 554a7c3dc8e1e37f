// tests/support/tally_test.h - helpers shared by the googletest suites.
#pragma once

#include <gtest/gtest.h>
#include <tally/tally.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

// The runtime is initialised once for the whole test binary (as an embedding program would).
class TallyEnv : public ::testing::Environment {
  public:
    void SetUp() override
    {
        ASSERT_EQ(tally_init(nullptr), 0) << tally_last_error();
        const char *want = std::getenv("TALLY_EXPECT_BACKEND");
        if (want) {
            ASSERT_STREQ(tally_backend(), want);
        }
    }
    void TearDown() override { tally_fini(); }
};

inline bool tally_test_backend_is(const char *name) { return std::strcmp(tally_backend(), name) == 0; }

// A GC type whose instances count their destructions; used across suites.
struct CountedObject {
    TALLY_OBJECT_HEAD;
    tally_object *ref;                 // one strong reference (may be NULL)
    std::atomic<int> *destroyed;       // incremented by destroy
};

inline int counted_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    auto *c = reinterpret_cast<CountedObject *>(self);
    if (c->ref) {
        int r = visit(c->ref, arg);
        if (r)
            return r;
    }
    return 0;
}
inline int counted_clear(tally_object *self)
{
    auto *c = reinterpret_cast<CountedObject *>(self);
    tally_object *r = c->ref;
    c->ref = nullptr;
    tally_xdecref(r);
    return 0;
}
inline void counted_destroy(tally_object *self)
{
    auto *c = reinterpret_cast<CountedObject *>(self);
    if (c->destroyed)
        c->destroyed->fetch_add(1);
    counted_clear(self);
}
inline const tally_type counted_type = {
    "Counted", sizeof(CountedObject), TALLY_TYPE_GC, counted_traverse, counted_clear, nullptr, nullptr,
    counted_destroy,
};
inline CountedObject *counted_new(std::atomic<int> *destroyed)
{
    auto *c = reinterpret_cast<CountedObject *>(tally_new(&counted_type));
    if (c)
        c->destroyed = destroyed;
    return c;
}

// Join every thread with this one detached (a joined thread may still need the GIL or a stop of
// the world to finish), then forget them.
inline void join_all(std::vector<std::thread> &ts)
{
    TALLY_BEGIN_ALLOW_THREADS
    for (auto &t : ts)
        t.join();
    TALLY_END_ALLOW_THREADS
    ts.clear();
}
