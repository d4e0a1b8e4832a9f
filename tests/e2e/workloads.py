"""Stand-ins for the seeds' workloads, as busybox shell scripts, for tests on real engines."""

# The Presto stand-in: MODE=COORDINATOR serves a registration URL and records each
# worker that calls it (and the address it called from); MODE=WORKER calls the
# coordinator at COORDINATOR_HOST_PORT.
PRESTO = r"""
if [ "$MODE" = COORDINATOR ]; then
  mkdir -p /www/cgi-bin
  cat > /www/cgi-bin/register <<'EOF'
#!/bin/sh
echo "$QUERY_STRING from=$REMOTE_ADDR" >> /www/workers
printf 'Content-Type: text/plain\r\n\r\nregistered\n'
EOF
  chmod +x /www/cgi-bin/register
  exec httpd -f -p 8080 -h /www
fi
# Announce to the coordinator, retrying while it comes up, as Presto's workers do.
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  wget -qO- "http://$COORDINATOR_HOST_PORT/cgi-bin/register?worker=$WORKER_ID&mode=$MODE" && exec sleep 300
  sleep 1
done
exit 9
"""


# A web task that answers with its own IPv4 address (its awsvpc private IP), on 8080.
WEB_ADDRESS = ("mkdir -p /www && ip -4 -o addr | grep -v ' lo ' | sed 's/.* inet \\([0-9.]*\\).*/\\1/' > /www/index.html"
               " && exec httpd -f -p 8080 -h /www")
