// tests/support/test_main.cc - googletest main shared by every suite.
//
// Every test runs inside an initialised runtime: TallyEnv initialises it once per binary and
// shuts it down at the end.  Tests that need a fresh runtime use the TallyRuntime fixture.
#include <gtest/gtest.h>

#include "tally_test.h"

int main(int argc, char **argv)
{
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new TallyEnv);
    return RUN_ALL_TESTS();
}
