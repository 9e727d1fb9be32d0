"""The loopback lab: real-protocol servers on 127.0.0.0/8 and ::1 for tests, benchmarks and demo."""
