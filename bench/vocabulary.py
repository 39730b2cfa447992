"""What the benchmark's data is made of: the seed, the moment it is dated from, and the word lists and population
sizes that events and profile updates draw on, so that they read like a real shop's traffic."""

from __future__ import annotations

SEED = 20251124  # the default seed of every generator: the same data on every run and every machine

T0_S = 1_764_000_000  # 2025-11-24T16:00:00Z, as in localdev.eventgen: Mixpanel accepts it
EVENT_NAMES = (
    "Page Viewed",
    "Product Viewed",
    "Product Searched",
    "Added To Cart",
    "Removed From Cart",
    "Checkout Started",
    "Payment Info Entered",
    "Order Completed",
    "Signed Up",
    "Logged In",
    "Video Played",
    "Feature Used",
    "Invite Sent",
    "Plan Upgraded",
)
HOSTS = ("shop.example.com", "www.example.com", "app.example.com", "help.example.com", "m.example.com")
SECTIONS = ("products", "category", "blog", "account", "search", "collections", "docs", "orders", "settings")
WORDS = (
    "trail",
    "runner",
    "alpine",
    "merino",
    "shell",
    "insulated",
    "ultralight",
    "summit",
    "daypack",
    "waterproof",
    "recycled",
    "everyday",
    "tech",
    "fleece",
    "hoodie",
    "v2",
    "pro",
    "mini",
)
REFERRERS = (
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://news.ycombinator.com/",
    "https://t.co/",
    "https://l.facebook.com/",
    "https://www.reddit.com/r/",
    "$direct",
)
UTM_SOURCES = ("google", "newsletter", "twitter", "facebook", "linkedin", "partner", "direct", "reddit")
COUNTRIES = ("US", "GB", "DE", "FR", "CA", "AU", "IN", "BR", "JP", "NL", "ES", "SE", "PL", "MX")
USERS = 600  # distinct users behind the events of one data set
PLANS = ("free", "starter", "growth", "business", "enterprise")
LIBS = (("web", "2.58.0"), ("web", "2.56.1"), ("iphone", "5.0.8"), ("android", "8.0.1"), ("python", "4.10.1"))
SCREEN_HEIGHTS = {  # width: height of the screens users have
    390: 844,
    393: 852,
    412: 915,
    414: 896,
    768: 1024,
    1280: 800,
    1366: 768,
    1440: 900,
    1536: 864,
    1920: 1080,
    2560: 1440,
}
DEVICE_MODELS = ("iPhone15,2", "iPhone16,1", "Pixel 8", "SM-S918B", "MacBookPro18,3", "iPad13,4", "")
CAMPAIGNS = ("black-friday", "spring-sale", "onboarding-3", "winback", "launch-v2", "weekly-digest", "retarget-eu")
# Optional properties some producers send as null rather than leave out.
NULLABLE = ("coupon", "campaign_id", "error_code", "previous_plan", "search_query", "promo_code", "team_id")
EXPERIMENTS = ("checkout_v2", "pricing_page", "onboarding_flow", "search_ranking")

# Profile updates: who the users are (a name and an email per distinct_id), and the companies, accounts and teams
# of group analytics, with what their profiles say.
FIRST_NAMES = ("Ana", "Ben", "Chen", "Dara", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kofi", "Lena", "Mia")
LAST_NAMES = ("Silva", "Novak", "Okafor", "Larsen", "Moreau", "Tanaka", "Schmidt", "Garcia", "Kowalski", "Nguyen")
EMAIL_DOMAINS = ("gmail.com", "outlook.com", "icloud.com", "proton.me", "yahoo.co.jp", "web.de", "example.org")
LANGUAGES = ("en-US", "en-GB", "de-DE", "fr-FR", "ja-JP", "pt-BR", "es-ES", "sv-SE")
TIMEZONES = ("America/New_York", "America/Los_Angeles", "Europe/London", "Europe/Berlin", "Asia/Tokyo", "Asia/Kolkata")
UNSET = ("trial_ends", "coupon", "churn_risk", "pending_invite", "promo_code", "beta_opt_in")
INDUSTRIES = ("retail", "fintech", "healthcare", "media", "education", "logistics", "saas", "gaming")
FEATURES = ("sso", "audit_log", "api_access", "custom_roles", "sandbox", "webhooks", "data_export", "priority_support")
INTEGRATIONS = ("slack", "salesforce", "hubspot", "zendesk", "segment", "snowflake", "bigquery", "jira")
COMPANY_SUFFIXES = ("Inc", "GmbH", "Ltd", "SA", "KK", "AB", "Labs", "Group")
GROUPS = 80  # distinct groups behind the group updates of one data set
