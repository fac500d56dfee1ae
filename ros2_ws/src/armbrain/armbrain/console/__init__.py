"""`armbrain console`: the operator console in the browser (issue 16, docs/console.md).

- `core`: pure: the console's state (objects, health, e-stop, the running goal, history),
  goal suggestions, the access rules; no rclpy, no web library.
- `bridge`: the ROS side: one node in a background thread (SingleThreadedExecutor) that
  subscribes, sends goals, cancels and publishes the e-stop.
- `web`: the web side: a FastAPI app (HTTP commands, a websocket pushing state JSON and
  JPEG frames, the static page in `static/`), served by uvicorn.
- `app`: `run_console`, what `armbrain console` runs.
"""
