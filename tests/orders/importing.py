"""Helpers for the import tests: rows of the Stream layout and files made of them."""

import csv
import io
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from orders.imports import COLUMNS

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "sample-import.csv"


def row(order_no="IMP-1", **cells):
    """One valid row: an item from BHM stock on a BHM fleet, to a Birmingham address."""
    values = {c: "" for c in COLUMNS}
    values.update(
        {
            "Order_No": order_no,
            "Cust_Ord_No": f"PO-{order_no}",
            "Order_Date": "01/12/2026",
            "Del_Name": "Ann Smith",
            "Del_Addr_1": "1 High Street",
            "Del_Town": "Birmingham",
            "Postal_Code": "b2 4qa",
            "Ctry_Code": "GB",
            "Contact_Tel_Mob": "07700900123",
            "Item_Code": "SOFA-3",
            "Item_Desc": "Sofa",
            "Item_Qty": "1",
            "Stock_Location": "BHM",
            "Delivery_Method": "BHM-VANS",
        }
    )
    values.update(cells)
    return values


def csv_text(rows, *, columns=COLUMNS, newline="\r\n"):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(columns)
    for values in rows:
        writer.writerow([values.get(c, "") for c in columns])
    return buffer.getvalue()


def csv_file(rows, *, bom=False, encoding="utf-8", **kwargs):
    data = csv_text(rows, **kwargs).encode(encoding)
    return (b"\xef\xbb\xbf" if bom else b"") + data


def upload(data, name="orders.csv"):
    return SimpleUploadedFile(name, data, content_type="text/csv")
