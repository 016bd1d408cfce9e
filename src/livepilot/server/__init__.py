"""HTTP and WebSocket server: app factory, hub, auth, console and overlay pages."""
