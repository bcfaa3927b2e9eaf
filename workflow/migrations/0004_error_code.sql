-- The code of a ticket's error (Ticket.ErrorCode), for List's filter; ''
-- for tickets without an error or stored before codes existed.
ALTER TABLE shiftgate_tickets ADD COLUMN error_code VARCHAR(64) NOT NULL DEFAULT '' AFTER worker, ADD KEY error_code_id (error_code, id)
