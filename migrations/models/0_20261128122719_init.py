from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "users" (
    "id" UUID NOT NULL PRIMARY KEY,
    "email" VARCHAR(320) NOT NULL UNIQUE,
    "username" VARCHAR(64) NOT NULL,
    "password_hash" VARCHAR(255) NOT NULL,
    "role" VARCHAR(16) NOT NULL,
    "is_verified" BOOL NOT NULL,
    "is_active" BOOL NOT NULL,
    "failed_logins" INT NOT NULL,
    "locked_until" TIMESTAMPTZ,
    "password_changed_at" TIMESTAMPTZ,
    "last_login_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL
);
COMMENT ON COLUMN "users"."role" IS 'USER: user\nADMIN: admin';
COMMENT ON TABLE "users" IS 'A person using Pulse. `email` is stored normalised (lower case), which makes the';
CREATE TABLE IF NOT EXISTS "refresh_tokens" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "token_hash" VARCHAR(64) NOT NULL UNIQUE,
    "family_id" UUID NOT NULL,
    "parent_id" BIGINT,
    "expires_at" TIMESTAMPTZ NOT NULL,
    "rotated_at" TIMESTAMPTZ,
    "revoked_at" TIMESTAMPTZ,
    "revoked_reason" VARCHAR(32),
    "created_at" TIMESTAMPTZ NOT NULL,
    "user_id" UUID NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_refresh_tok_family__59d0e5" ON "refresh_tokens" ("family_id");
COMMENT ON TABLE "refresh_tokens" IS 'One refresh token, stored only as a SHA-256 hash.';
CREATE TABLE IF NOT EXISTS "user_tokens" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "purpose" VARCHAR(32) NOT NULL,
    "token_hash" VARCHAR(64) NOT NULL UNIQUE,
    "expires_at" TIMESTAMPTZ NOT NULL,
    "used_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL,
    "user_id" UUID NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_user_tokens_user_id_0b556f" ON "user_tokens" ("user_id", "purpose");
COMMENT ON COLUMN "user_tokens"."purpose" IS 'VERIFY_EMAIL: verify_email\nRESET_PASSWORD: reset_password';
COMMENT ON TABLE "user_tokens" IS 'A single-use emailed token (email verification, password reset), stored hashed.';
CREATE TABLE IF NOT EXISTS "event_stats" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "day" DATE NOT NULL,
    "kind" VARCHAR(64) NOT NULL,
    "source" VARCHAR(64) NOT NULL,
    "count" INT NOT NULL,
    "total_duration_ms" BIGINT NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "user_id" UUID NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_event_stats_user_id_6d9753" UNIQUE ("user_id", "day", "kind", "source")
);
COMMENT ON TABLE "event_stats" IS 'Rolling per-user aggregate: events per day, kind and source.';
CREATE TABLE IF NOT EXISTS "patterns" (
    "id" UUID NOT NULL PRIMARY KEY,
    "kind" VARCHAR(32) NOT NULL,
    "signature" VARCHAR(255) NOT NULL,
    "description" TEXT NOT NULL,
    "details" JSONB NOT NULL,
    "count" INT NOT NULL,
    "confidence" DOUBLE PRECISION NOT NULL,
    "first_seen" TIMESTAMPTZ NOT NULL,
    "last_seen" TIMESTAMPTZ NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "user_id" UUID NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_patterns_user_id_49d92f" UNIQUE ("user_id", "signature")
);
COMMENT ON COLUMN "patterns"."kind" IS 'HOUR_OF_DAY: hour_of_day\nDAY_OF_WEEK: day_of_week\nSEQUENCE: sequence\nTIME_OF_DAY: time_of_day';
COMMENT ON TABLE "patterns" IS 'A regularity in one user''s events. `signature` identifies it across analysis runs.';
CREATE TABLE IF NOT EXISTS "workflows" (
    "id" UUID NOT NULL PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL,
    "description" TEXT NOT NULL,
    "enabled" BOOL NOT NULL,
    "schedule" VARCHAR(120),
    "timezone" VARCHAR(64) NOT NULL,
    "missed_run_policy" VARCHAR(16) NOT NULL,
    "overlap_policy" VARCHAR(16) NOT NULL,
    "secret" VARCHAR(128) NOT NULL,
    "max_consecutive_failures" INT NOT NULL,
    "consecutive_failures" INT NOT NULL,
    "paused_reason" TEXT,
    "next_run_at" TIMESTAMPTZ,
    "last_scheduled_for" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "user_id" UUID NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_workflows_user_id_22cb38" ON "workflows" ("user_id", "created_at");
CREATE INDEX IF NOT EXISTS "idx_workflows_enabled_dcf398" ON "workflows" ("enabled", "next_run_at");
COMMENT ON COLUMN "workflows"."missed_run_policy" IS 'SKIP: skip\nRUN_ONCE: run_once';
COMMENT ON COLUMN "workflows"."overlap_policy" IS 'SKIP: skip\nALLOW: allow';
COMMENT ON TABLE "workflows" IS 'A multi-step automation, optionally on a cron schedule in an IANA time zone.';
CREATE TABLE IF NOT EXISTS "suggestions" (
    "id" UUID NOT NULL PRIMARY KEY,
    "status" VARCHAR(16) NOT NULL,
    "title" VARCHAR(200) NOT NULL,
    "description" TEXT NOT NULL,
    "proposed_workflow" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "decided_at" TIMESTAMPTZ,
    "pattern_id" UUID NOT NULL REFERENCES "patterns" ("id") ON DELETE CASCADE,
    "user_id" UUID NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    "workflow_id" UUID REFERENCES "workflows" ("id") ON DELETE SET NULL,
    CONSTRAINT "uid_suggestions_user_id_f25507" UNIQUE ("user_id", "pattern_id")
);
CREATE INDEX IF NOT EXISTS "idx_suggestions_user_id_a8a1a0" ON "suggestions" ("user_id", "status", "created_at");
COMMENT ON COLUMN "suggestions"."status" IS 'PENDING: pending\nACCEPTED: accepted\nDISMISSED: dismissed';
COMMENT ON TABLE "suggestions" IS 'A proposed workflow for a pattern. One per pattern, so a dismissed one stays dismissed.';
CREATE TABLE IF NOT EXISTS "workflow_runs" (
    "id" UUID NOT NULL PRIMARY KEY,
    "status" VARCHAR(16) NOT NULL,
    "trigger" VARCHAR(16) NOT NULL,
    "scheduled_for" TIMESTAMPTZ,
    "cancel_requested" BOOL NOT NULL,
    "error" TEXT,
    "started_at" TIMESTAMPTZ,
    "finished_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "user_id" UUID NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    "workflow_id" UUID NOT NULL REFERENCES "workflows" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_workflow_ru_workflo_f84f95" UNIQUE ("workflow_id", "scheduled_for")
);
CREATE INDEX IF NOT EXISTS "idx_workflow_ru_workflo_2d5e5f" ON "workflow_runs" ("workflow_id", "created_at");
CREATE INDEX IF NOT EXISTS "idx_workflow_ru_status_b87fc3" ON "workflow_runs" ("status", "created_at");
COMMENT ON COLUMN "workflow_runs"."status" IS 'QUEUED: queued\nRUNNING: running\nSUCCEEDED: succeeded\nFAILED: failed\nCANCELLED: cancelled\nMISSED: missed';
COMMENT ON COLUMN "workflow_runs"."trigger" IS 'SCHEDULE: schedule\nMANUAL: manual\nCATCH_UP: catch_up';
COMMENT ON TABLE "workflow_runs" IS 'One execution (or one recorded miss) of a workflow.';
CREATE TABLE IF NOT EXISTS "workflow_steps" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "position" INT NOT NULL,
    "connector" VARCHAR(32) NOT NULL,
    "config" JSONB NOT NULL,
    "workflow_id" UUID NOT NULL REFERENCES "workflows" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_workflow_st_workflo_59d855" UNIQUE ("workflow_id", "position")
);
COMMENT ON TABLE "workflow_steps" IS 'One step of a workflow: a connector (`webhook`, `email`, `log`, `delay`) and its config.';
CREATE TABLE IF NOT EXISTS "step_runs" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "position" INT NOT NULL,
    "connector" VARCHAR(32) NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "attempts" INT NOT NULL,
    "output" TEXT,
    "error" TEXT,
    "started_at" TIMESTAMPTZ,
    "finished_at" TIMESTAMPTZ,
    "run_id" UUID NOT NULL REFERENCES "workflow_runs" ("id") ON DELETE CASCADE,
    "step_id" BIGINT REFERENCES "workflow_steps" ("id") ON DELETE SET NULL,
    CONSTRAINT "uid_step_runs_run_id_adddb3" UNIQUE ("run_id", "position")
);
COMMENT ON COLUMN "step_runs"."status" IS 'PENDING: pending\nRUNNING: running\nSUCCEEDED: succeeded\nFAILED: failed\nSKIPPED: skipped\nCANCELLED: cancelled';
COMMENT ON TABLE "step_runs" IS 'The outcome of one step within one run.';
CREATE TABLE IF NOT EXISTS "audit_log" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "action" VARCHAR(64) NOT NULL,
    "target_type" VARCHAR(32) NOT NULL,
    "target_id" VARCHAR(64) NOT NULL,
    "before" JSONB,
    "after" JSONB,
    "request_id" VARCHAR(64),
    "created_at" TIMESTAMPTZ NOT NULL,
    "actor_id" UUID REFERENCES "users" ("id") ON DELETE SET NULL,
    "owner_id" UUID REFERENCES "users" ("id") ON DELETE SET NULL
);
CREATE INDEX IF NOT EXISTS "idx_audit_log_owner_i_9eb605" ON "audit_log" ("owner_id", "created_at", "id");
CREATE INDEX IF NOT EXISTS "idx_audit_log_target__2d010d" ON "audit_log" ("target_type", "target_id");
COMMENT ON TABLE "audit_log" IS 'One change. `actor` is null for changes made by the system (jobs, scheduler).';
CREATE TABLE IF NOT EXISTS "feature_flags" (
    "name" VARCHAR(64) NOT NULL PRIMARY KEY,
    "enabled" BOOL NOT NULL,
    "description" TEXT NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "updated_by_id" UUID REFERENCES "users" ("id") ON DELETE SET NULL
);
CREATE TABLE IF NOT EXISTS "event_imports" (
    "id" UUID NOT NULL PRIMARY KEY,
    "filename" VARCHAR(255) NOT NULL,
    "content_type" VARCHAR(100) NOT NULL,
    "size_bytes" BIGINT NOT NULL,
    "sha256" VARCHAR(64) NOT NULL,
    "storage_path" VARCHAR(500) NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "total_rows" INT NOT NULL,
    "processed_rows" INT NOT NULL,
    "accepted" INT NOT NULL,
    "duplicates" INT NOT NULL,
    "rejected" INT NOT NULL,
    "error" TEXT,
    "created_at" TIMESTAMPTZ NOT NULL,
    "started_at" TIMESTAMPTZ,
    "finished_at" TIMESTAMPTZ,
    "user_id" UUID NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_event_impor_user_id_25a6be" ON "event_imports" ("user_id", "created_at");
COMMENT ON COLUMN "event_imports"."status" IS 'PENDING: pending\nPROCESSING: processing\nCOMPLETED: completed\nFAILED: failed';
COMMENT ON TABLE "event_imports" IS 'An uploaded file (stored under UPLOAD_DIR) and the counts of importing it.';
CREATE TABLE IF NOT EXISTS "events" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "kind" VARCHAR(64) NOT NULL,
    "source" VARCHAR(64) NOT NULL,
    "occurred_at" TIMESTAMPTZ NOT NULL,
    "duration_ms" INT,
    "data" JSONB,
    "client_id" VARCHAR(128),
    "dispatched_at" TIMESTAMPTZ,
    "processed_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL,
    "import_job_id" UUID REFERENCES "event_imports" ("id") ON DELETE SET NULL,
    "user_id" UUID NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_events_user_id_fdbc6c" UNIQUE ("user_id", "client_id")
);
CREATE INDEX IF NOT EXISTS "idx_events_user_id_945b66" ON "events" ("user_id", "occurred_at", "id");
CREATE INDEX IF NOT EXISTS "idx_events_process_8a5ea6" ON "events" ("processed_at", "created_at");
COMMENT ON TABLE "events" IS 'One thing a collector saw. `client_id` makes retries from a collector idempotent.';
CREATE TABLE IF NOT EXISTS "failed_events" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "payload" JSONB NOT NULL,
    "error" TEXT NOT NULL,
    "attempts" INT NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "history" JSONB NOT NULL,
    "first_failed_at" TIMESTAMPTZ NOT NULL,
    "last_failed_at" TIMESTAMPTZ NOT NULL,
    "replayed_at" TIMESTAMPTZ,
    "resolved_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "event_id" BIGINT REFERENCES "events" ("id") ON DELETE SET NULL,
    "user_id" UUID REFERENCES "users" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_failed_even_status_9fffbf" ON "failed_events" ("status", "created_at");
COMMENT ON COLUMN "failed_events"."status" IS 'OPEN: open\nREPLAYING: replaying\nRESOLVED: resolved\nDISCARDED: discarded';
COMMENT ON TABLE "failed_events" IS 'A dead letter: an event the pipeline gave up on, kept with its history for replay.';
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSONB NOT NULL
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztXWtz2ziW/SsofVmnynHZSpxkPFtbJdtyR9uK5ZGszvS0p2iYhCS2KYJDglZrZvu/Lw"
    "C+nyIlSiIZfMmDxAWpc0Hg4twH/tNZYgVp1tkYzUxkLR7xK9I7V+A/HR0uEf1H6v1T0IGG"
    "EdxlFwh80biA6bSUCGvKb8EXi5hQJvTuDGoWopcUZMmmahAVs6d1RjoCrhzgcqfAIthECs"
    "C6tgbQAhBMvvbedy8/gQW0FmesWwXLtF9Vn2/Vw5P+pPNfYwH2MkhXaNuZiZdUAAENz1Ud"
    "WAtoIir4PINLVVtLqvL8V2DQZyCd0OfSO/xRgCwgASv2DM1EUFk/6SYmkNAOTfRGW1i0BQ"
    "KrBdYQcLoCJ+O7G/CXz+fn4Mk+P4efP55dfDzrvuM/zNbVf9mIAjhHVM6kP++3f9LLKn3F"
    "P5Dl/dd4lWYq0pSItlSFdcCvS2Rt8GvX6nygkzvelsH2IslYs5d60N5YkwXWfQFVJ+zqHO"
    "nIZL+CXiOmzdSm25rm6tnTpPOyQRPnLUMyCppBW2PKZ9LOCwTXOpJ0P3qUJv1HSeokBoYn"
    "EdK0e0nGOhtU9FUtDsCcvcL7v3S7Hz587p5/+PTl8uPnz5dfzr/Qtvx9k7c+/+m8TICW0x"
    "XHbPDT4P6RvRCmI9cZ2OzCn1wGEuhIcWUE6PPRILHhldTCDR1L6TqISsV0QX9kXBce8vVV"
    "xhL+IWlIn5MF/e+njzk4/9Ib33ztjU8+fXwXBfvevdPltxjsAcz+15hEeTod3KajHBGKgW"
    "zbqnLGRLeB2rtwHKxzsOXAfvjEgTWwReYmv8kxiiFq0HlOJ6mI5s0eEbHNk0gKmi5UOWAG"
    "K0bLppEAffSHoVLdSJAk4b+l2BF1idIVEJWMaUBxRc+8f1Qzug+qkBxsHwff+pPH3rcH1v"
    "3Ssv6lcbx6j312p8uvrmNXTz7Fphm/E/B98PgVsP+Cf4zu+/Fvxm/3+I8OeydoEyzpeCVB"
    "JYyJd9m7FFGzaxNsoeaoZAVqrtln1yotc4tvKy1HJIWWm6Blau5bWC9j7SUlt7L4aqbbqM"
    "n3oVvA5PvQzTT52K3oEilTuLabO6OSLVwiO2zLOaKbXHdUNOQzcwdw7ldmW8gsaeaHRPZr"
    "5Ndl6txg5TOmYPaaultlUCWhvcMmUuf6z2jNAR7Q94C6jFIAdZmhqdtNMyENrgZj0oQrn1"
    "oJDyj62+kvRsSZ4XuTm95tv8MRfoHy6wqaihSBmt3BXRy74rdN3lp2l/ErUIdzDg77Feyd"
    "w6in8HSeNrL5OfaDCtJyPWDQtlgHtsXorgebtjoDz2gJVe0ZqJZHsenYXEJNteg/TzS8Qi"
    "aQoYXenYLVQpUXYAldCizB2lX9gCfdGV4gUCtv+V7VLaRbKlHf0D4otuz5qPqpaDO10/nv"
    "ma3LTImAP4n98fF/OrWbm05zqDQ+BMrYVb5A6wi0D93zQubUeY49dR43qNgswP9dAuKwTD"
    "UoH9t02jNRaUDLWmE61ZelhBOCLYS7e3lZAG/aKhNwfu/PGMeiZQzpvm4vExZNjGXRDjy0"
    "fROsBNqd6aQ/vgJM8knv3X4b3F8BqCxVPb64FtHBxacCKriI7wACDbBbUQWolvSGTJX2l8"
    "YlYwox1DNWyqhkTAsvVHRfavCvHHZ1vB6NhpGN2PUgRhXfT79d96kCOP60kUoyGGSKHTXk"
    "qHFTHvNA7oCIe4tpYwGfUWMDKRJ3E1tJ0DM9Jgm5rbwmW2F+vq9Z3fGZdC8+fv745cOnj7"
    "6rxL+S5yFJQqthmfFjtk7SDMB8sicuK0jUOpOovpUjL6A+34rdy+hC6L3OetegRZwpcAuN"
    "J4SFruusa0HcZy+cLSbuDWVLrUclhdbrovWUj52/fcK/kE2Hh72n8RDR2J7Flb/7eYw0yB"
    "FODoaMwNSGDYcsN0TSD1YFWMw70Gqk0BtizXcCqc/6aDVAkkVgJShNCGwtUu5WvYoRdce7"
    "Kjqu6mmN5oNlQEKQuev09OD00tYRZdnzObJY1zviNPE7aitUdE//OtPwakegvrvdtB0myb"
    "R3HVMeVGO7tYMK2opKJDoJmyraEa0e66pPe1q3dELHK53twgRixe0FDc5dGnJXcwFBYpvo"
    "jnbYUqzUpYHNSizQAe+pTTPWvqPGMlM8I5vD/PixUsmdPcCCuzT0nkoCHqaDFDdx8oT/Fz"
    "h+X5nr+xR4nD5giZbknZ/IyWIhkJJM/dxD/5vDw37zffeGbRrYQp1/iqTMWiZlevpJqKBY"
    "VEhIvM5BOJ1f+uPB3a9S/1tvMLxyRvxa4sP/SR/3mdRDbzL5PhrfXjkDX/K+g/gHdZwIf5"
    "E7e5CQNJFruGlFbiATn5o5sZX3xRIu9EboV7hVs2fQZjrYRD6UyIeqAaRNzYdynCspu1rf"
    "65K9ow1cPMUqFZGFU/yHfmUakunmEVhwdQaeZU11ymE8uxlJJuLEmVNWKNxeVdDSwIS2Tq"
    "9kVOkTWKWjZ0W1DEjkBZ/5ndQqRACmI5nXJuIQ8BJGC8grIRFMuzNUA2kqfZ/f8Qug18Gz"
    "YWIZWZbbCxN/0nn1I9Zipuoq20KDlUoWQCV/5V1bK4QMZNJXfe+/BH1xvLKcukkL+IaAjl"
    "S20c7afAe7bR8BZ7+duiPHsmybpr/Gsban4LdO+N15V8FKKPbu9dy7v9IfX2Y76LWv8069"
    "NltBC9umXCoBLJAQABcAODYPlbHSY6ItNNMbYpYX2o0ptsm5ZWlZJhckJtWi+lmV5YKwhS"
    "GJ6P9ORvcZkLrt49+LKhPwf0BTrQZimgMYAyLyjXiz0cm33t/jE9XNcHQdH/ysg+t4qRXf"
    "wiqxMkSE2lfQ5qL7pUiiZPdLdqYkuxcb3GGTvOwCkRAWfF2dV4j43qNUjlNMVmi6zpoWzG"
    "z2nNpeZtYJaJF+xy8l+dmE4A4sbXO+6hKlaQXnLTjv2nPe6VNBBcCWi3Gr5wSwEd7EHBgB"
    "mb4FuJ8Oh3mehWjWhm3uHIHZyoSNvftfeDpQlg/GyxXa4IcJcpM2O2PGWNOYo8RAJgv+Mw"
    "Gc06lvTjV15Xg0LHYLKHB9Chg1zH0YDomZ9Lvs2lmu24JKsb88ftolUuMuDOGFqKUXwlVe"
    "0pbPIqHWmwz45q6VaagyAzxmtQnHjXDcNBdgGdt6yvY9c7r124tqTnEGn2ACNSnXQZK3kK"
    "WKtwblA58zIqpyZCukmdRUCiOZXjxCECiCQKkzgXKcoMHwNj9l2xpjAbI3rolSEUWS4hQ6"
    "4wAKBEHmFd1LuiF4LGLOD7ubs9A42wAsa+0VGcQLrLPAQmVJa2swwyywztDgOi0vbh+PKJ"
    "Iax7bwNgdCxNjVxArIyY+Daw3DFBVkh1mERHaKtKjpdHawUAtkmjhl9XhEf2SMfF+gFdu4"
    "PCOr//fHfLh9G2s4uv/Jax7XQRRuVl1maaSlnWdONWGR1mw7KtvcBfP8Npm1gfQBK65jw8"
    "lvL5NaO3ro318BJslSaR+GvV8H9z9duYsixZsn2I6Gv/Sd1FqsvSHlSb8dUNtmfMsuKqol"
    "U2MFbZVqW32NdndlLzPjh0QOP+OHzjN5sVWNqLp1xp53jCNN9rIOzFTTIpJrRZbfnaeIt3"
    "CL3twteTJchBcx3lrfSWmh7lqr21kptjwUNCIqYv/qrWdn8d9KzxFRoec661nEeGbbrs0k"
    "0kVR8x9R60XcJ05QUlmKMizVosSuQzssj+W6qhn6e/FcIc+vUUWIamMx3ei6Cn/JGXGp8S"
    "F7OH9gQzGtqTvQKz+e4goMVSbPdgOGi6AX8QCaaG5r0FTJGqg6wDripzr+l+WGm56BZ4sO"
    "Gl4L9pkV9NAJOx3RAioBUDaxZQH6S7S1pVqA1X9O8wDu4xG5ga5+d7sFt4oDlas+UDk7In"
    "MzU9+E6MzO19F0LI3upNver1dggW1TwjNJgesnnV5hN773+z9fsfhtdmOF0OuTPun/bdq/"
    "v+lfAQvRl+PlbJjN6PfD7HG3n224++rLZAbfV6ouM8I/w0J1VuKWEaB7OUo4/GYJrLNdtD"
    "GxVqB9aEetgghUtRTHYk7lh0CkHg4q9tjWOKhEQHRlPnPa/YwZWmkB/HcahpmIhsVisM6Y"
    "3N6APdsXtHkpJaPp9bAPHsb9m8Fk4I5onxbiN7m16R/RPO73hqleVQuhlPm7iEPVk2whX9"
    "dcfi7Dl7qNliOCQsm1VrLwuGQvUM3k3oXH5UfUukhYOTbtLxJW9sxQi/Mea1COIoRYCpsf"
    "xTOb0I8psAinb5iYHRekAO9oRp4/A4HrGzgDrLw3qyPhXjgFFqu0rajWUmU13jhHTz++tR"
    "VcSyP29/acXHbf7Syn9nYFqT+C+6+a+29gnL6BdIUBVQ7nzkP//pYH57vyT3rv5qb/8Mii"
    "8KEsI4O4ofnfBpOJG5rvDP5t6P3qQ/OJSrRS1L4v0AqiOUbrn58XofXPz7NpfXZP0Po1of"
    "W9NUtahY5lLpxzmCYssg93IfUFp9Ky3XURTkVBsqpsV3I6Iiki1OtDoSS17BrqJWmUqJRg"
    "UuoSjtpOOL2FvCSkMTER5Svovk2QVlvg1whiQXdENRRV2lJgoyvKZmyzdwalwf0e6qqRE8"
    "FGcGMzYemqyXslYAkyxnY6++reOs2lXmkjiYUcFyNeHxcIYJvIeEn/nrnkJjJ4NSM38Jl2"
    "liRSS8ilEqOm8zvonKzyVxEVfWuUSJRT88jTV0IHmQoIixwuqm3/mqgysE3nZ4+WoS8jQq"
    "0g1fYeAP4Dc/nj6f29U3rH1nV+ZTK9uen3eZEdy5ZlhBTG79/1BkN2yamRQVv9PHh44G1e"
    "VcNgV2569zf9IW8kM6A0rS4eAFGkquJ5iS7vhp1CdmVz/YFEG06yOzTLf+Cidj842nRCN7"
    "cj8aOSgs6tM53rnay+VXGwiKjQc531TO2akmxoICH45cTUiIzShTtCQqJuR5ntdg4H7ZIk"
    "FfF5LnXUzCG9kdMLvufNZCkbqxUCO3G7a9YILwps6MOuFVHq09QpTGmYws6mSj0auHCM6p"
    "IqQH3PeU62Gi159PEpwLwJ1LQ1wDqAQDbpXxY7YtrWECsfAXUw6N33eFI8+DfWUw5Rq7rz"
    "ItXmPRdXOOD0FPzWQTpDiGtcp5sPxiaLYNRDLcPZ3Cv/O4FzNkXotW8hOygCHFnfRxi++y"
    "E+gvkmZm9irCGoZ7AfgVQM8xcqti/Q/SuHxf16NBpGcL8exIGdfrvuj08uuBKC9O6U2vPu"
    "2lFmKgnLtIFsinHR3SKzCW2VzUZ3E7MJW47ZalwG5rDMAeeR6ePNvqaSfR846KQgcAvFwJ"
    "oqp9TmL+bfSe3ogDpgDpayfh7mnXFcM9zDI414QSb2E7D3E4/ulcFvyNSgsaN2kr00SDW9"
    "4XD0/QpQE97ZkBxfKRaiJn8KIZqzAPgSLbQmL7pfCs3/X3Lm/y+JmYk+gT0VyTZR35CUfb"
    "56JqWW18Xh3JUf9qWD6sModgH7+EA3xS9sQJsvlQha5XZKCcE2mJKH3iyFGZkE9vkerZio"
    "8GjV2aPlFFly912KNEsLDShSpineg9B6nbUuUguzl7H2phaKck1t03rKxy7KNYn8rdo5dx"
    "tcrqmeVkiyWlMsTGlHiNoZzJGIzqgIpYKRGY2B6RDxFBnJZ7GBtzmqokQSGiu5RXFm7AvW"
    "wQk2nfwxJGN29i9g3Pw7lmUG/aJdyQCKLfp40p/0ibc/4sd0AGgi4IwCXgPsxGt7CiwNk3"
    "enYLVQ5QVYwlfE638ZkMgL+gaALNCSnQOyNDBBOslOfAsnakY3Z8naYOG28SANUS+shiEa"
    "Dcwxok1tpJSEufO3aX/KcoAc6e0TjNLSiZ50r8ZYrQqMmSo1TjJy9DbrNiReZw9KZ3LztX"
    "87HbKDXdzJiaqjdz/tDak6oG5DjSnt8earNH1gOqPTn2Qb9VDRTmyZIMpqvHdOIcr4bCGZ"
    "7PQhi5QOHkoTF1FEJaKIRLKaSFaruyaaNqeJZLUfQ8/CyZNtIjaT7hdOnh9R68LJc/DU1K"
    "OXPmwPrDm+s+MUk6sptDtVk0tNPxWuycO5JsPV8HZwTAaV91qC9kFcSdz9luNL8txzBZxJ"
    "vlOwmDeJp9FGvD1XLHfWK5oGTp5X6GWB8evzKXhGS6hq7B8anrO/6FvA9fM7AHUFqMQC/A"
    "jRebrLaV8P2ug7EpUTS8Y/i8qJR5+MROXEA2SzVF850ZmWkhhnnzkSSIgzxfPJ4C2OHxF7"
    "ILEHOrb5GDfWC+2Bammw15PnPqy93rMVlfR1Yq47KdZ66G6urQ5ZO4matsXNdHkB9Tk6A8"
    "+QLcjPQLX4q/EjGZ17FlhCBYGXNYuwAtaajo8lOPkdv1infoSC+S7dNq+09yIFdfBKT1TU"
    "OeWGNA/ZItCkws5Q5cDx/7K7wmavpc0O5XSLPdu4DCRaaFlWX74h9kUURTkm1kKoqzfig9"
    "mmPNCps0obYK5+RL8gurqkDObsvVIgsdNeqZ52zME2RXBG0kj1bNh9AYH69qi78XMlZ5Wo"
    "VBviwfY9q4iIkWzomxk7UCRihG9bSrI8YRlxwl+sFhXbnpXEMywj8MxlzGA6E78vv3Y9Id"
    "3IlIU/0Ix6yokxK0DdAGr4K61Vkeo7uvraJrrT4LyTQq2Fb5/mcWszp6E0oy2LucGzMd7M"
    "ZGXSUcctQXxcRmovJl4299SkorieHhqbzSJKPx8psUUERWdPOM3c2BQKinZ197IuGxodFx"
    "QmeX4RHB8vYUJuCjeND61a2ZH9N6STwdLAJkmzI8O3c+1IxBpKKm9Z9NgTHdiGhiGrojFT"
    "NQROLLqDof+xqUJNMH0Yjnq30u1g7MQxMkeqjG2KPguLdJ7ECmSoJOXQk0q73vbIE1Ez46"
    "g1M5jiy+4rwjItdEt1Ly8LbC9oq+zjTdi9RBQfq0xT2tkal2sh3heFjpO5yDlO5iJ5nIyl"
    "/hvR1YSkVaHOPUgvItemuN+DRHOEFLCA3ctPZYZ6INHCQV69V4ot1tRckQxIH1AG5phcC8"
    "G+LDSjXObMKJcpM0rzqktVdoL9w3h0059MnIsmlpFl8es3o28Pw/4jLyCFlwaz1xNlpuJ2"
    "Z6ElofoCUphATTLd4wYLpoBEhcRZBImzCJyhwE4VKAdsUlCAGwcXyjIyUmsrZcIaFhGAJm"
    "hmuttVZZhqEmZCGhUSoMZBNdHvSC43SsMiAlBR2uuYHhAR2pU9sJvpASkS2iUKum3z/dVI"
    "ySlurqSWRUG3H0PPosiTOMnj6P7LKsrlcPfgjqm33BfZ2PnowIm3yFTlRSct6da5c5qbcB"
    "u0OUo0YNqM96Nkpu6428p2h74h0yqZdBoSaSGVvhdnKPuoSiDsNm8huntxfbou4yTCuRVj"
    "PJHDl4w5jkVUWUZewnY6ZIzSn/8P5x0Wrg=="
)
