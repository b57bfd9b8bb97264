"""Sandbox controls (docs/sandbox.md): triggers that pay, decline, hold or expire an order
without a browser, the sandbox clock that can be moved forward, and the reset of all sandbox
data. Every entry point refuses production mode (`errors.SandboxOnly`)."""
