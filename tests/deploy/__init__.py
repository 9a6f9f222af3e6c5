"""Tests of the Kubernetes and ECS manifests, offline."""
