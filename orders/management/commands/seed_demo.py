"""seed_demo: demo data for a UK furniture and appliance home-delivery business.

Reference data (four depots, their fleets, lanes, service levels, failure reasons) is written by
code with update_or_create, so the command can run again. Orders go only through
orders/services.py, exactly as the API and the office create and move them: each order is
created "on" its order date, so its stock movements carry believable ship and due dates, then
taken along the status graph to where its scenario ends (awaiting stock, ready, planned, on the
road, delivered, failed, cancelled). Everything comes from `random.Random(--seed)`, so the same
seed on the same day gives the same data.
"""

import random
import time
from collections import Counter
from datetime import time as clock_time
from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count

from orders import services, trunking
from orders.domain import Actor
from orders.models import (
    DeliveryMethod,
    FailureReason,
    Lane,
    Order,
    ServiceLevel,
    StockLocation,
    StockMovement,
)

# --- Reference data -----------------------------------------------------------------------------

DEPOTS = [
    {
        "code": "BHM",
        "name": "Birmingham depot",
        "line1": "Unit 4, Tyseley Distribution Park",
        "line2": "Seeleys Road",
        "town": "Birmingham",
        "county": "West Midlands",
        "postal_code": "B11 2LQ",
        "lat": "52.460410",
        "lng": "-1.846730",
    },
    {
        "code": "MAN",
        "name": "Manchester depot",
        "line1": "Unit 12, Trafford Park Distribution Centre",
        "line2": "Westinghouse Road",
        "town": "Manchester",
        "county": "Greater Manchester",
        "postal_code": "M17 1PY",
        "lat": "53.466820",
        "lng": "-2.317040",
    },
    {
        "code": "LDS",
        "name": "Leeds depot",
        "line1": "Unit 7, Cross Green Industrial Estate",
        "line2": "Cross Green Approach",
        "town": "Leeds",
        "county": "West Yorkshire",
        "postal_code": "LS9 0SG",
        "lat": "53.788150",
        "lng": "-1.504020",
    },
    {
        "code": "BRS",
        "name": "Bristol depot",
        "line1": "Unit 3, Avonmouth Distribution Park",
        "line2": "Poplar Way East",
        "town": "Avonmouth",
        "county": "Bristol",
        "postal_code": "BS11 0YH",
        "lat": "51.505130",
        "lng": "-2.687260",
    },
]

# (code, name, depot). A depot's vans take one-man work where it has them.
FLEETS = [
    ("BHM-2MAN", "Birmingham two-man crews", "BHM"),
    ("BHM-VANS", "Birmingham one-man vans", "BHM"),
    ("MAN-2MAN", "Manchester two-man crews", "MAN"),
    ("MAN-VANS", "Manchester one-man vans", "MAN"),
    ("LDS-2MAN", "Leeds two-man crews", "LDS"),
    ("BRS-2MAN", "Bristol two-man crews", "BRS"),
    ("BRS-VANS", "Bristol one-man vans", "BRS"),
]

# Trunk runs between depots, in days. Leeds–Bristol runs on alternate days, hence the longer legs.
LANES = {
    ("BHM", "MAN"): 1,
    ("MAN", "BHM"): 1,
    ("BHM", "LDS"): 1,
    ("LDS", "BHM"): 1,
    ("BHM", "BRS"): 1,
    ("BRS", "BHM"): 1,
    ("MAN", "LDS"): 1,
    ("LDS", "MAN"): 1,
    ("MAN", "BRS"): 2,
    ("BRS", "MAN"): 2,
    ("LDS", "BRS"): 3,
    ("BRS", "LDS"): 2,
}

# (code, name, description, default unload minutes)
SERVICE_LEVELS = [
    ("1MAN-KERB", "One-man kerbside", "Delivered to the kerb or the front door, no carrying inside.", 10),
    ("1MAN-ROC", "One-man room of choice", "One driver carries small items to the room of the customer's choice.", 15),
    ("2MAN-ROC", "Two-man room of choice", "Two-person crew carries the items to the room of choice and unpacks.", 25),
    (
        "2MAN-ASSY",
        "Two-man room of choice with assembly",
        "Two-person crew places, unpacks and assembles the furniture, and takes the packaging away.",
        45,
    ),
    (
        "2MAN-INST",
        "Two-man appliance install",
        "Two-person crew connects the appliance, tests it and removes the old one (WEEE).",
        40,
    ),
]

FAILURE_REASONS = [
    ("NOT-HOME", "Customer not at home"),
    ("NO-ACCESS", "No access to the property (gate, parking, lift out of order)"),
    ("DAMAGED", "Item damaged in transit"),
    ("REFUSED", "Customer refused the delivery"),
    ("WRONG-ADDR", "Address wrong or not found"),
    ("NO-FIT", "Item does not fit through the doorway or stairs"),
    ("WRONG-ITEM", "Wrong item or colour loaded"),
    ("OUT-OF-TIME", "Route ran out of time"),
]
# How often each reason is the demo's outcome of a failed delivery.
FAILURE_WEIGHTS = {"NOT-HOME": 30, "NO-ACCESS": 15, "DAMAGED": 12, "REFUSED": 8, "WRONG-ADDR": 6, "NO-FIT": 10}

# --- Customers and addresses --------------------------------------------------------------------

FIRST_NAMES = (  # noqa: SIM905 - a word list reads better as text
    "Oliver Amelia George Isla Harry Ava Noah Mia Jack Ivy Charlie Freya Leo Lily Jacob Florence Oscar "
    "Emily Thomas Grace Arthur Sophie William Evie James Poppy Henry Ella Alfie Chloe Joshua Priya "
    "Mohammed Aisha Daniel Hannah Samuel Zara Ethan Megan Ryan Siobhan Connor Niamh Rhys Ffion Rajesh "
    "Anita Tomasz Agnieszka"
).split()
SURNAMES = (  # noqa: SIM905 - a word list reads better as text
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Patel Robinson Wright Thompson Evans Walker "
    "White Roberts Green Hall Wood Jackson Clarke Khan Hughes Edwards Lewis Harris Turner Hill Moore "
    "Cooper Ward Morris King Baker Shaw Begum Singh Kowalski O'Brien McDonald Fletcher Barnes Holmes "
    "Lloyd Parker Ahmed"
).split()
STREETS = """Church Road|Station Road|Victoria Road|Park Avenue|Manor Road|Mill Lane|The Crescent|Highfield Road
|Queens Road|Kingsway|Grange Road|Elm Grove|Chestnut Close|Meadow Way|Orchard Drive|Springfield Road|Windsor Avenue
|Albert Street|Beech Drive|Hawthorn Close|Cedar Court|Brook Lane|Oakwood Drive|St John's Road|Poplar Avenue
|Green Lane|Hillside Crescent|Rosemary Gardens|Willow Way|Vicarage Lane""".replace("\n", "").split("|")

# Delivery areas around each depot: (town, county, postcode districts, lat, lng, landline prefix).
# Landlines use Ofcom's numbers for drama (0121 496 0xxx, 01632 960xxx...), so no real phone rings.
AREAS = {
    "BHM": [
        (
            "Birmingham",
            "West Midlands",
            ["B13", "B14", "B15", "B17", "B23", "B30", "B31", "B73"],
            52.46,
            -1.90,
            "0121 496 0",
        ),
        ("Solihull", "West Midlands", ["B90", "B91", "B92"], 52.41, -1.78, "0121 496 0"),
        ("Wolverhampton", "West Midlands", ["WV3", "WV4", "WV6"], 52.58, -2.13, "01632 960"),
        ("Coventry", "West Midlands", ["CV3", "CV5", "CV6"], 52.40, -1.51, "01632 960"),
        ("Worcester", "Worcestershire", ["WR2", "WR5"], 52.19, -2.22, "01632 960"),
    ],
    "MAN": [
        ("Manchester", "Greater Manchester", ["M14", "M20", "M21", "M40"], 53.45, -2.23, "0161 496 0"),
        ("Salford", "Greater Manchester", ["M6", "M7", "M30"], 53.49, -2.29, "0161 496 0"),
        ("Stockport", "Greater Manchester", ["SK2", "SK4", "SK7"], 53.41, -2.15, "0161 496 0"),
        ("Bolton", "Greater Manchester", ["BL1", "BL3"], 53.58, -2.43, "01632 960"),
        ("Altrincham", "Cheshire", ["WA14", "WA15"], 53.38, -2.35, "0161 496 0"),
        ("Warrington", "Cheshire", ["WA4", "WA5"], 53.39, -2.59, "01632 960"),
    ],
    "LDS": [
        ("Leeds", "West Yorkshire", ["LS6", "LS8", "LS16", "LS17"], 53.82, -1.55, "0113 496 0"),
        ("Bradford", "West Yorkshire", ["BD9", "BD10"], 53.80, -1.77, "01632 960"),
        ("Wakefield", "West Yorkshire", ["WF1", "WF2"], 53.68, -1.50, "01632 960"),
        ("Harrogate", "North Yorkshire", ["HG1", "HG2"], 53.99, -1.54, "01632 960"),
        ("York", "North Yorkshire", ["YO24", "YO31"], 53.96, -1.08, "01632 960"),
    ],
    "BRS": [
        ("Bristol", "Bristol", ["BS3", "BS6", "BS7", "BS9", "BS16"], 51.47, -2.58, "0117 496 0"),
        ("Bath", "Somerset", ["BA1", "BA2"], 51.38, -2.36, "01632 960"),
        ("Weston-super-Mare", "Somerset", ["BS23", "BS24"], 51.34, -2.97, "01632 960"),
        ("Gloucester", "Gloucestershire", ["GL1", "GL4"], 51.86, -2.24, "01632 960"),
        ("Cheltenham", "Gloucestershire", ["GL50", "GL52"], 51.90, -2.07, "01632 960"),
    ],
}
DEPOT_WEIGHTS = {"BHM": 30, "MAN": 30, "LDS": 20, "BRS": 20}
# Letters used in the inward part of a GB postcode (never C, I, K, M, O or V).
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

LOCATION_INSTRUCTIONS = [
    "Parking at the rear of the building.",
    "Second-floor flat, no lift. Narrow stairs.",
    "Gate code 2580. Ring on arrival.",
    "Side entrance via the garage.",
    "Permit parking only: customer will leave a visitor permit in the window.",
    "Farmhouse at the end of the track past the church.",
]
DRIVER_NOTES = [
    "Please call 30 minutes before arrival.",
    "Dog in the garden, please knock loudly.",
    "Customer has a bad back: place the items in the room, do not leave them in the hall.",
    "Protect the wooden floors: shoe covers please.",
    "Neighbour at no. 12 can take the delivery if no answer.",
]
ORDER_NOTES = [
    "Customer called to confirm the delivery address.",
    "Replacement for an order damaged last month: handle with care.",
    "Price matched in store.",
    "VIP customer: account manager copied on updates.",
]
POD_NOTES = [
    "Placed in the living room, packaging removed.",
    "Assembled in the main bedroom.",
    "Installed and tested; old appliance taken away.",
    "Left in the hallway at customer's request.",
    "",
]
DRIVERS = {
    "BHM": ["Gary Marsh", "Imran Hussain", "Dean Fowler", "Wes Brennan"],
    "MAN": ["Steve Ogden", "Lee Kershaw", "Paul Nowak", "Kyle Bradshaw"],
    "LDS": ["Craig Sutcliffe", "Asif Mahmood", "Rob Dyson"],
    "BRS": ["Mark Tucker", "Jason Pike", "Owen Rees", "Darren Cole"],
}
# Vehicle registration area codes, for plausible number plates.
PLATE_AREAS = {"BHM": "BX", "MAN": "MX", "LDS": "YK", "BRS": "WU"}

# --- Products -----------------------------------------------------------------------------------

# (sku, description, weight kg, cube m³, assembly minutes)
SMALL = [
    ("TV-55-UHD", "55in 4K television", "18.5", "0.2100", 0),
    ("MICRO-25L", "25L combination microwave", "16.0", "0.0900", 0),
    ("BST-2DR-OAK", "Two-drawer bedside table, oak", "14.0", "0.1200", 0),
    ("MIRR-FL-BRS", "Full-length mirror, brass frame", "11.5", "0.0800", 0),
    ("RUG-160-GRY", "Wool rug 160 x 230 cm, grey", "9.0", "0.0600", 0),
    ("LAMP-FLR-BLK", "Arc floor lamp, black", "7.5", "0.0700", 0),
    ("CHR-OFF-MESH", "Mesh office chair", "15.0", "0.2200", 0),
]
FURNITURE = [
    ("SOFA-3S-GRY", "Harlow 3-seater sofa, grey", "58.0", "1.9500", 0),
    ("SOFA-CRN-NVY", "Kingston corner sofa, navy", "96.0", "3.1000", 0),
    ("ARM-RECL-TAN", "Leather recliner armchair, tan", "45.0", "0.9500", 0),
    ("MATT-KS-POCK", "King-size pocket sprung mattress", "34.0", "0.7200", 0),
    ("MATT-DB-MEM", "Double memory foam mattress", "27.0", "0.5800", 0),
    ("SIDE-OAK-3D", "Three-door oak sideboard", "62.0", "0.6800", 0),
    ("DTBL-6-OAK", "Oak dining table, seats six", "60.0", "0.9000", 0),
]
FLATPACK = [
    ("BED-KS-OAK", "King-size bed frame, oak", "72.0", "0.8200", 45),
    ("WARD-3D-WHT", "Three-door wardrobe, white", "110.0", "1.2000", 90),
    ("CHST-4D-WHT", "Four-drawer chest, white", "41.0", "0.4300", 40),
    ("BOOK-5SH-WAL", "Five-shelf bookcase, walnut", "38.0", "0.3900", 30),
    ("DESK-OAK-120", "Oak writing desk, 120 cm", "32.0", "0.3200", 30),
    ("CHR-DIN-PR", "Pair of upholstered dining chairs", "14.0", "0.3800", 15),
]
APPLIANCES = [
    ("FF-AMER-SS", "American-style fridge freezer, stainless", "118.0", "1.3200", 0),
    ("FF-7030-WHT", "70/30 fridge freezer, white", "68.0", "0.8100", 0),
    ("WM-9KG-1400", "9kg 1400-spin washing machine", "72.0", "0.3900", 0),
    ("TD-8KG-HP", "8kg heat-pump tumble dryer", "50.0", "0.3800", 0),
    ("DW-FS-60", "Freestanding dishwasher, 60 cm", "46.0", "0.3500", 0),
    ("COOK-60-ELEC", "60 cm electric cooker, double oven", "55.0", "0.4200", 0),
]
# What each service level carries, and whether its fleet is a two-man crew.
SERVICE_PRODUCTS = {
    "1MAN-KERB": (SMALL, False),
    "1MAN-ROC": (SMALL, False),
    "2MAN-ROC": (FURNITURE, True),
    "2MAN-ASSY": (FLATPACK, True),
    "2MAN-INST": (APPLIANCES, True),
}
SERVICE_WEIGHTS = {"1MAN-KERB": 10, "1MAN-ROC": 10, "2MAN-ROC": 35, "2MAN-ASSY": 25, "2MAN-INST": 20}
# Things a collection picks up from the customer: returns and old items.
COLLECTION_ITEMS = [
    ("RTN-SOFA", "Return: sofa (changed mind)", "58.0", "1.9500"),
    ("RTN-MATT", "Return: mattress (comfort guarantee)", "30.0", "0.6500"),
    ("OLD-SOFA", "Old sofa for disposal", "60.0", "2.0000"),
    ("OLD-FRIDGE", "Old fridge freezer for WEEE recycling", "70.0", "0.9000"),
    ("OLD-BED", "Old bed frame for disposal", "55.0", "0.8000"),
]

# --- Scenarios ----------------------------------------------------------------------------------

# Where each order's story ends, and how often. The first orders take one of each, so even a small
# run reaches every order status and every movement status.
SCENARIOS = {
    "awaiting_pending": 7,  # stock at another depot; its movement has not left yet
    "awaiting_transit": 5,  # stock on a trunk run between depots
    "awaiting_future": 5,  # waiting for the supplier: an on-hand date in the future
    "ready": 14,
    "planned": 15,
    "in_progress": 6,
    "completed": 28,
    "failed": 6,
    "replanned": 4,  # failed once, then planned again
    "cancelled": 5,
    "cancelled_pending": 3,  # cancelled while its movement was pending: the movement is cancelled too
}
NEEDS_MOVEMENT = {"awaiting_pending", "awaiting_transit", "cancelled_pending"}
# (order_date days ago: low, high) per scenario.
ORDER_AGE = {
    "awaiting_pending": (0, 2),
    "awaiting_transit": (1, 3),
    "awaiting_future": (0, 3),
    "ready": (1, 6),
    "planned": (2, 8),
    "in_progress": (3, 10),
    "completed": (4, 30),
    "failed": (3, 12),
    "replanned": (4, 14),
    "cancelled": (1, 15),
    "cancelled_pending": (0, 3),
}
MULTI_SHARE = 0.07
COLLECTION_SHARE = 0.10
TRUNK_SHARE = 0.30


class Command(BaseCommand):
    help = "Load demo depots, fleets, lanes, service levels, failure reasons and orders in every status."

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=300, help="How many orders to create (default 300).")
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when any order exists already.")
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1): same seed, same data.")

    def handle(self, *args, orders, if_empty, seed, **options):
        if orders < 0:
            raise CommandError("--orders cannot be negative.")
        if if_empty and Order.objects.exists():
            self.stdout.write("There are orders already; --if-empty so nothing was changed.")
            return
        started = time.monotonic()
        with transaction.atomic():
            ref = seed_reference_data()
        self.stdout.write(
            f"Reference data: {len(ref.depots)} depots, {len(ref.fleets)} fleets, {Lane.objects.count()} lanes, "
            f"{len(ref.service_levels)} service levels, {FailureReason.objects.count()} failure reasons."
        )
        if orders:
            with transaction.atomic():
                made = DemoOrders(ref, seed).make(orders)
            self.stdout.write(f"Created {len(made)} orders, {made[0]} to {made[-1]}.")
        self._summary(time.monotonic() - started)

    def _summary(self, seconds):
        self.stdout.write("Orders by status:")
        counts = dict(Order.objects.values_list("status").annotate(n=Count("id")))
        for status in Order.Status:
            self.stdout.write(f"  {status.value:<16}{counts.get(status.value, 0):>6}")
        self.stdout.write("Stock movements by status:")
        counts = dict(StockMovement.objects.values_list("status").annotate(n=Count("id")))
        for status in StockMovement.Status:
            self.stdout.write(f"  {status.value:<16}{counts.get(status.value, 0):>6}")
        self.stdout.write(self.style.SUCCESS(f"Done in {seconds:.1f}s."))


class Reference:
    """The reference rows the orders are made from, by code."""

    def __init__(self, depots, fleets, service_levels):
        self.depots = depots
        self.fleets = fleets
        self.service_levels = service_levels

    def fleet_for(self, depot_code, two_man):
        """A two-man crew for big items; vans for small ones where the depot has vans."""
        wanted = f"{depot_code}-2MAN" if two_man else f"{depot_code}-VANS"
        return self.fleets.get(wanted) or self.fleets[f"{depot_code}-2MAN"]


def seed_reference_data():
    depots = {}
    for spec in DEPOTS:
        values = {**spec, "country": "GB", "lat": Decimal(spec["lat"]), "lng": Decimal(spec["lng"]), "active": True}
        code = values.pop("code")
        depots[code], _ = StockLocation.objects.update_or_create(code=code, defaults=values)
    fleets = {}
    for code, name, depot in FLEETS:
        fleets[code], _ = DeliveryMethod.objects.update_or_create(
            code=code, defaults={"name": name, "depot": depots[depot], "active": True}
        )
    for (a, b), days in LANES.items():
        Lane.objects.update_or_create(from_location=depots[a], to_location=depots[b], defaults={"transit_days": days})
    service_levels = {}
    for code, name, description, minutes in SERVICE_LEVELS:
        service_levels[code], _ = ServiceLevel.objects.update_or_create(
            code=code,
            defaults={"name": name, "description": description, "default_unload_minutes": minutes, "active": True},
        )
    for code, description in FAILURE_REASONS:
        FailureReason.objects.update_or_create(code=code, defaults={"description": description, "active": True})
    return Reference(depots, fleets, service_levels)


def next_order_number():
    """One past the highest SO- number in use, so a second run never collides with the first."""
    numbers = Order.objects.filter(order_no__regex=r"^SO-[0-9]+$").values_list("order_no", flat=True)
    return max((int(n[3:]) for n in numbers), default=100000) + 1


class DemoOrders:
    """Makes orders through the services and walks each along its scenario."""

    def __init__(self, ref, seed):
        self.ref = ref
        self.rng = random.Random(seed)
        self.today = trunking.today()
        self.system = Actor.system()
        self.wms = Actor.for_inbound("demo-wms")
        self.planner = Actor.for_inbound("demo-route-planner")
        self.driver_app = Actor.for_inbound("demo-driver-app")
        self.route_numbers = Counter()
        # Lanes read once for every order (services.create_order's fast path); movement ids as needed.
        self.prepared = trunking.Prepared(
            lanes={(lane.from_location_id, lane.to_location_id): lane.transit_days for lane in Lane.objects.all()}
        )

    def make(self, count):
        rng = self.rng
        first = next_order_number()
        names = list(SCENARIOS)
        weights = list(SCENARIOS.values())
        made = []
        for i in range(count):
            scenario = names[i] if i < len(names) else rng.choices(names, weights)[0]
            # The first order to need a movement is also multi-leg, so even a tiny run has one.
            multi = i == 0 or rng.random() < MULTI_SHARE
            made.append(self._create(f"SO-{first + i}", scenario, multi))
        # Orders whose stock was due between their order date and today are ready now.
        services.release_due_orders(on=self.today)
        for order_no, scenario, story in made:
            self._progress(order_no, scenario, story)
        return [order_no for order_no, _, _ in made]

    # --- creating -------------------------------------------------------------------------------

    def _create(self, order_no, scenario, multi):
        rng = self.rng
        today = self.today
        low, high = ORDER_AGE[scenario]
        order_date = today - timedelta(days=rng.randint(low, high))
        depot = rng.choices(list(DEPOT_WEIGHTS), list(DEPOT_WEIGHTS.values()))[0]
        service_code = rng.choices(list(SERVICE_WEIGHTS), list(SERVICE_WEIGHTS.values()))[0]
        awaiting = scenario.startswith("awaiting") or scenario == "cancelled_pending"
        collection = not multi and not awaiting and rng.random() < COLLECTION_SHARE
        if multi or collection:
            service_code = rng.choice(["2MAN-ROC", "2MAN-INST"])
        products, two_man = SERVICE_PRODUCTS[service_code]
        fleet = self.ref.fleet_for(depot, two_man)
        customer = self._customer(depot)
        address, landline = self._address(depot)
        required_date = self._required_date(scenario, order_date)
        window = self._window()

        fields = {
            "order_no": order_no,
            "order_date": order_date,
            "order_type": Order.Type.MULTI if multi else Order.Type.COLLECTION if collection else Order.Type.DELIVERY,
            **customer,
            "customer_phone": landline if rng.random() < 0.3 else "",
            "service_level": self.ref.service_levels[service_code],
            "customer_reference": f"WEB-{rng.randint(2_000_000, 2_999_999)}",
            "order_notes": rng.choice(ORDER_NOTES) if rng.random() < 0.1 else "",
            "location_instructions": rng.choice(LOCATION_INSTRUCTIONS) if rng.random() < 0.25 else "",
            "driver_notes": rng.choice(DRIVER_NOTES) if rng.random() < 0.3 else "",
        }
        if rng.random() < 0.08:
            # Bought as a gift: the buyer's own address differs from the delivery address.
            other, _ = self._address(rng.choice(list(AREAS)))
            fields["customer_address"] = {k: other[k] for k in ("line1", "town", "postal_code", "country")}

        if collection:
            lines = self._collection_lines(fleet, order_date, start=1)
        else:
            lines = self._delivery_lines(scenario, products, fleet, order_date)

        if multi:
            # A delivery with the old item taken away on the same visit.
            leg = {**address, **window, "required_date": required_date}
            groups = [
                {"sequence": 1, "group_type": "delivery", **leg, "lines": lines},
                {
                    "sequence": 2,
                    "group_type": "collection",
                    **leg,
                    "lines": self._collection_lines(fleet, order_date, start=len(lines) + 1),
                },
            ]
            services.create_order(
                actor=self.system, fields=fields, groups=groups, on=order_date, prepared=self.prepared
            )
        else:
            fields.update(address, required_date=required_date, **window)
            services.create_order(actor=self.system, fields=fields, lines=lines, on=order_date, prepared=self.prepared)
        story = {"depot": depot, "fleet": fleet.code, "required_date": required_date}
        return order_no, scenario, story

    def _customer(self, depot):
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
        handle = f"{first}.{last}".lower().replace("'", "")
        return {
            "customer_name": f"{first} {last}",
            # Ofcom keeps 07700 900xxx for drama too.
            "customer_mobile": f"07700 900{rng.randint(0, 999):03d}" if rng.random() < 0.9 else "",
            "customer_email": f"{handle}{rng.randint(1, 99)}@example.com" if rng.random() < 0.8 else "",
        }

    def _address(self, depot):
        rng = self.rng
        town, county, districts, lat, lng, landline = rng.choice(AREAS[depot])
        inward = f"{rng.randint(1, 9)}{rng.choice(INWARD_LETTERS)}{rng.choice(INWARD_LETTERS)}"
        house = f"{rng.randint(1, 180)} {rng.choice(STREETS)}"
        flat = rng.random() < 0.15
        address = {
            "line1": f"Flat {rng.randint(1, 24)}" if flat else house,
            "line2": house if flat else "",
            "line3": "",
            "town": town,
            "county": county,
            "postal_code": f"{rng.choice(districts)} {inward}",
            "country": "GB",
            "lat": Decimal(f"{lat + rng.uniform(-0.04, 0.04):.6f}"),
            "lng": Decimal(f"{lng + rng.uniform(-0.06, 0.06):.6f}"),
        }
        return address, f"{landline}{rng.randint(0, 999):03d}"

    def _required_date(self, scenario, order_date):
        rng = self.rng
        today = self.today
        if scenario.startswith("awaiting"):
            return today + timedelta(days=rng.randint(4, 21))
        if scenario == "ready":
            return today + timedelta(days=rng.randint(1, 14))
        if scenario in ("planned", "replanned"):
            return today + timedelta(days=rng.randint(1, 6))
        if scenario == "in_progress":
            return today
        if scenario in ("completed", "failed"):
            return min(today, order_date + timedelta(days=rng.randint(2, 10)))
        return order_date + timedelta(days=rng.randint(3, 14))

    def _window(self):
        rng = self.rng
        kind = rng.random()
        if kind < 0.55:
            return {"required_time_from": None, "required_time_to": None}
        if kind < 0.75:
            return {"required_time_from": _time(7), "required_time_to": _time(12)}
        if kind < 0.9:
            return {"required_time_from": _time(12), "required_time_to": _time(18)}
        start = rng.randint(8, 16)
        return {"required_time_from": _time(start), "required_time_to": _time(start + 2)}

    def _delivery_lines(self, scenario, products, fleet, order_date):
        rng = self.rng
        count = rng.choices([1, 2, 3], [60, 30, 10])[0]
        depot_code = fleet.depot.code
        lines = []
        for n, (sku, description, weight, cube, assembly) in enumerate(rng.sample(products, count), start=1):
            stock_depot = depot_code
            if (n == 1 and scenario in NEEDS_MOVEMENT) or rng.random() < TRUNK_SHARE:
                stock_depot = rng.choice([code for code in self.ref.depots if code != depot_code])
            # Mostly in stock when ordered; some came in from the supplier since (by today).
            days_ago = (self.today - order_date).days
            on_hand = order_date - timedelta(days=rng.randint(0, 20))
            if days_ago and rng.random() < 0.3:
                on_hand = order_date + timedelta(days=rng.randint(1, days_ago))
            if scenario == "awaiting_future" and n == 1:
                on_hand = self.today + timedelta(days=rng.randint(2, 14))
            quantity = rng.choice([2, 4, 6]) if sku == "CHR-DIN-PR" else 1
            lines.append(
                {
                    "line_no": n,
                    "sku": sku,
                    "description": description,
                    "quantity": quantity,
                    "weight_kg": Decimal(weight) * quantity,
                    "cube_m3": Decimal(cube) * quantity,
                    "stock_location": self.ref.depots[stock_depot],
                    "on_hand_date": on_hand,
                    "delivery_method": fleet,
                    "assembly_minutes": assembly * quantity,
                }
            )
        return lines

    def _collection_lines(self, fleet, order_date, *, start):
        """Items collected from the customer; they come back to the fleet's own depot, so nothing trunks."""
        sku, description, weight, cube = self.rng.choice(COLLECTION_ITEMS)
        return [
            {
                "line_no": start,
                "sku": sku,
                "description": description,
                "quantity": 1,
                "weight_kg": Decimal(weight),
                "cube_m3": Decimal(cube),
                "stock_location": fleet.depot,
                "on_hand_date": order_date,
                "delivery_method": fleet,
            }
        ]

    # --- moving along ---------------------------------------------------------------------------

    def _progress(self, order_no, scenario, story):
        if scenario == "cancelled_pending":
            self._cancel(order_no)
            return
        if scenario in ("awaiting_pending", "awaiting_future"):
            return
        movements = list(
            StockMovement.objects.filter(order__order_no=order_no, status=StockMovement.Status.PENDING)
            .order_by("id")
            .values_list("reference", flat=True)
        )
        for reference in movements:
            services.dispatch_movement(reference, actor=self.wms)
        if scenario == "awaiting_transit":
            return
        for reference in movements:
            services.receive_movement(reference, actor=self.wms)
        if scenario == "ready":
            return
        if scenario == "cancelled":
            if self.rng.random() < 0.4:
                self._plan(order_no, story, story["required_date"])
            self._cancel(order_no)
            return

        rng = self.rng
        planned_date = self.today if scenario == "in_progress" else story["required_date"]
        if scenario == "replanned" or (scenario == "completed" and rng.random() < 0.1):
            # A first attempt failed a few days before; the customer rebooked.
            first_try = min(self.today, planned_date) - timedelta(days=rng.randint(2, 5))
            self._plan(order_no, story, first_try)
            services.start_order(order_no, actor=self.driver_app)
            services.fail_order(order_no, actor=self.driver_app, reason_code=rng.choice(["NOT-HOME", "NO-ACCESS"]))
        self._plan(order_no, story, planned_date)
        if scenario in ("planned", "replanned"):
            return
        services.start_order(order_no, actor=self.driver_app)
        if scenario == "in_progress":
            return
        if scenario == "failed":
            reason = rng.choices(list(FAILURE_WEIGHTS), list(FAILURE_WEIGHTS.values()))[0]
            notes = "Carded; customer to rebook." if reason == "NOT-HOME" else ""
            services.fail_order(order_no, actor=self.driver_app, reason_code=reason, notes=notes)
            return
        pod = {"signed_by": self._signer(order_no), "notes": rng.choice(POD_NOTES)}
        services.complete_order(order_no, actor=self.driver_app, pod=pod)

    def _plan(self, order_no, story, planned_date):
        rng = self.rng
        fleet = story["fleet"]
        key = (fleet, planned_date)
        if key not in self.route_numbers or rng.random() < 0.2:
            self.route_numbers[key] += 1
        eta = rng.randint(7, 16)
        depot = story["depot"]
        plate = f"{PLATE_AREAS[depot]}{rng.choice([19, 20, 21, 69, 70, 71, 72, 73])} {_letters(rng, 3)}"
        plan = {
            "planned_date": planned_date.isoformat(),
            "route_ref": f"{fleet}-{planned_date:%y%m%d}-R{self.route_numbers[key]:02d}",
            "eta_from": f"{eta:02d}:00",
            "eta_to": f"{eta + 2:02d}:00",
            "driver": rng.choice(DRIVERS[depot]),
            "vehicle": plate,
        }
        services.plan_order(order_no, actor=self.planner, plan=plan)

    def _cancel(self, order_no):
        note = self.rng.choice(
            ["Customer cancelled by phone.", "Cancelled: found cheaper elsewhere.", "Duplicate order, cancelled."]
        )
        services.cancel_order(order_no, actor=self.system, note=note)

    def _signer(self, order_no):
        name = Order.objects.values_list("customer_name", flat=True).get(order_no=order_no)
        return name if self.rng.random() < 0.85 else f"{self.rng.choice(FIRST_NAMES)} (neighbour)"


def _time(hour):
    return clock_time(hour, 0)


def _letters(rng, n):
    return "".join(rng.choice("ABCDEFGHJKLMNOPRSTUVWXYZ") for _ in range(n))
