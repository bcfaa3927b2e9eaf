// Package dumpscan watches a mysqldump or mariadb-dump stream as it passes, in bounded memory, to learn its sections, row counts, line numbers and source replication position.
package dumpscan
