/* SPDX-License-Identifier: MIT */
/* stepwise version numbers. */
#ifndef STEPWISE_VERSION_H
#define STEPWISE_VERSION_H
#define SW_VERSION_STRING "0.1.0"
#endif
