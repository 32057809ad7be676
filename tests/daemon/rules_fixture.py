# Copyright 2026 The sluice Authors.
# SPDX-License-Identifier: Apache-2.0
"""The rule files the HTTP and gRPC end-to-end tests share: envoyproxy/ratelimit
YAML, one case of its matching semantics per descriptor. Every window is an
hour or a day, so none rolls over within a test (see avoid_window_edge)."""

E2E_RULES = """\
# envoyproxy/ratelimit rule file, as upstream writes them.
domain: e2e
descriptors:
  # Key only: each user value gets its own counter.
  - key: user
    rate_limit:
      unit: hour
      requests_per_unit: 3

  # key+value is preferred over key only.
  - key: user
    value: vip
    rate_limit:
      unit: hour
      requests_per_unit: 100

  # A wildcard value: tried after key+value, before key only; each matching
  # value still has its own counter.
  - key: user
    value: bot*
    rate_limit:
      unit: day
      requests_per_unit: 1

  # share_threshold: every value matching the wildcard shares one counter.
  - key: team
    value: red*
    share_threshold: true
    rate_limit:
      unit: hour
      requests_per_unit: 2

  # Two levels: only a two-entry descriptor reaches the nested limit.
  - key: path
    value: /api
    descriptors:
      - key: user
        rate_limit:
          unit: day
          requests_per_unit: 2

  - key: plan
    value: unlimited
    rate_limit:
      unlimited: true

  # No rate_limit and no children: whitelisted.
  - key: plan
    value: free

  - key: shadow
    shadow_mode: true
    rate_limit:
      unit: hour
      requests_per_unit: 1

  - key: category
    value: account
    rate_limit:
      name: account
      unit: hour
      requests_per_unit: 1

  - key: category
    value: premium
    rate_limit:
      unit: hour
      requests_per_unit: 10
      replaces:
        - name: account

  # For hits_addend.
  - key: addend
    rate_limit:
      unit: HOUR
      requests_per_unit: 3

  # A sluice extension in the same file: a token bucket with any period.
  - key: bucket
    rate_limit:
      algorithm: token_bucket
      period: 2h
      requests_per_unit: 2
"""

OTHER_RULES = """\
domain: other
descriptors:
  - key: user
    rate_limit:
      unit: day
      requests_per_unit: 1
"""

RULES = {"e2e.yaml": E2E_RULES, "other.yml": OTHER_RULES}
