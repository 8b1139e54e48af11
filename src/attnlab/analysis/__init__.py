"""The lab's measurements: probes, gradient path, effective context, speed."""
