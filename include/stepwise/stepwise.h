/* SPDX-License-Identifier: MIT */
/* Umbrella header of libstepwise. */
#ifndef STEPWISE_H
#define STEPWISE_H
#include "stepwise/error.h"
#include "stepwise/version.h"
#endif
