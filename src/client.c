/* client.c - placeholder until the client library lands. */
#include "util.h"
