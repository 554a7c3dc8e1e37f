/* tally/tally.h - the whole public API of Tally (see shared api.md for the contract).
 *
 * Link with exactly one libtally-<backend>; the pkg-config file / CMake target of that backend
 * defines TALLY_BACKEND_<NAME>, which selects the inline refcount fast path.
 */
#ifndef TALLY_TALLY_H
#define TALLY_TALLY_H

#include <tally/version.h>
#include <tally/object.h>
#include <tally/runtime.h>
#include <tally/builtins.h>
#include <tally/gc.h>

#endif
