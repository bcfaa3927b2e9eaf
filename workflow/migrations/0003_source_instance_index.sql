-- List by instance also matches the source instance of migrations.
ALTER TABLE shiftgate_tickets ADD KEY source_instance_id (source_instance, id)
