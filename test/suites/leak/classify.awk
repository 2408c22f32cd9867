# Name the log channel of every server log line that holds a needle.
# Input: the server log (log_line_prefix '%m [%p] '); -v needles=REGEX.
# Output: one line per hit: "<channel>".  Continuation lines (plans,
# multi-line statements) belong to the entry above them.
function channel(line) {
	if (line ~ /  plan:/) return "auto_explain plan"
	if (line ~ /LOG:  (statement:|execute |bind |parse )/) return "log_statement text"
	if (line ~ /LOG:  duration:/) return "duration log"
	# "parameters:" up to PostgreSQL 15, "Parameters:" from 16 on
	if (line ~ /DETAIL:  [Pp]arameters:/) return "log_statement bind parameters"
	if (line ~ /STATEMENT:  /) return "error STATEMENT line"
	if (line ~ /CONTEXT:  /) return "error CONTEXT line"
	if (line ~ /(ERROR|FATAL|PANIC):  /) return "error message"
	if (line ~ /(DETAIL|HINT):  /) return "error detail or hint"
	if (line ~ /LOG:  connection/) return "connection log"
	return "other log line"
}
/^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9:.]+ [A-Z]+ \[[0-9]+\] / { current = channel($0) }
$0 ~ needles { print current }
