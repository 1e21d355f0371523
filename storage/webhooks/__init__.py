"""Webhooks in the tenant's database: endpoints (`endpoints`), the delivery queue with its retry
schedule (`queue`), the attempt log and manual sends (`deliveries`) and the dead-letter queue
(`dlq`). The HTTP calls themselves are made by actors/webhook_delivery.py, outside any
transaction; these functions decide and record."""
