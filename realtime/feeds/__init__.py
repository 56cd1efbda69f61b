"""Event-stream subscriptions executed once per event and distinct operation, not once per socket.

A thousand admin consoles subscribed with the same document receive the same bytes, so a
`Feed` executes the selection set once per event, serializes the result once, and hands each
member socket only the shared payload, which it wraps in its own operation id. Sockets whose
operations differ (other selections, variables, audience) get feeds of their own.

Strawberry still parses, validates, limits and authorizes every subscription on its socket;
only the per-event work is shared. A feed's context is that of the first member: the admin
feed is shared by role, so fields below it may depend on the viewer's role, never on who
the admin is.

The path, top to bottom, one module each:

1. `socket`: the WebSocket handler (`api.websocket_handlers`) wraps each graphql-transport-ws
   `subscribe` in a `Sink` and sets `current_sink` around it; the sink writes text frames
   through the protocol's fast send (`FastSend`, offered by `server.websocket_protocol`) and
   falls back to the ASGI send.
2. `member`: the event-stream resolver (`resolvers.subscriptions`) finds the sink, makes a
   `Member` of it and hands the operation over: the resolver returns, Strawberry's task for it
   ends, and the member writes the socket's frames from then on, queueing them in a
   `realtime.buffer.BoundedBuffer` only while the socket makes a write wait.
3. `feed`: `Feeds.join` adds the member to the `Feed` of its key (created by the first member,
   ended by the last); the feed reads the channel from the hub, decodes each envelope once,
   executes and serializes once, and sends the payload to every member.
"""
