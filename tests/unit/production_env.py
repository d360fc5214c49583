"""A complete production environment (what Terraform sets, secrets as placeholders), for the
configuration and wiring tests."""

PRODUCTION = {
    "APP_ENV": "production",
    "GOOGLE_CLOUD_PROJECT": "creator-prod",
    "WORKER_URL": "https://video-worker-abc-uc.a.run.app",
    "TASKS_SERVICE_ACCOUNT": "tasks-invoker@creator-prod.iam.gserviceaccount.com",
    "R2_ACCOUNT_ID": "0123456789abcdef",
    "R2_ACCESS_KEY_ID": "r2-access-key-id-0001",
    "R2_SECRET_ACCESS_KEY": "r2-secret-access-key-0001",
    "R2_BUCKET": "creator-media",
    "ALLOWED_ORIGINS": "https://app.example.com,https://www.example.com",
}
