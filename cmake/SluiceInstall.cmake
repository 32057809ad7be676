# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
