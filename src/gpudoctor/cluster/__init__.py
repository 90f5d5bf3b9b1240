"""gpudoctor across the nodes of a cluster: merge per-node snapshots into one report.

:mod:`gpudoctor.cluster.merge` is pure (files in, a :class:`ClusterReport` out) and serves
both ``gpudoctor merge`` and ``gpudoctor cluster``; :mod:`gpudoctor.cluster.dist` is the
torch.distributed side of ``gpudoctor cluster`` and the only module here that imports torch.
"""

from __future__ import annotations
