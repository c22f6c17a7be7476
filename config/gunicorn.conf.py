"""gunicorn settings shared by scripts/run, the Dockerfile and docker-compose.

The access log names the path and never the query string nor the referrer: a quality officer's
search by MRN travels in the query string, and an MRN must not land in a log file.
Command-line options (bind, workers, threads, log file) override what is set here.
"""

accesslog = "-"
# remote address, time, method, path (no query), protocol, status, bytes, duration in ms
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
